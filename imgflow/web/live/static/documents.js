// The GraphQL documents the page sends (see schema.graphql).

const IMAGE = "format width height bytes frames url";
const JOB = `id status queue attempts createdAt updatedAt operations
  source { ${IMAGE} } result { ${IMAGE} } error { code message }
  progress { done total } outputs { name srcsetWidth image { ${IMAGE} } }
  srcset skippedWidths analysis { blurhash dominantColors }`;

export const REGISTER = `mutation Register($email: String!, $password: String!) {
  register(email: $email, password: $password) { token user { email } }
}`;

export const LOGIN = `mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { token user { email } }
}`;

export const ME = "query Me { me { email } }";

export const SUBMIT = `mutation Submit($file: Upload!, $operations: [OperationInput!]!, $srcset: SrcsetInput,
    $analyze: Boolean!) {
  submitImage(file: $file, operations: $operations, srcset: $srcset, analyze: $analyze) { ${JOB} }
}`;

export const RECENT_JOBS = `query RecentJobs($first: Int!) {
  jobs(first: $first) { edges { node { ${JOB} } } }
}`;

export const JOB_UPDATED = `subscription JobUpdated($id: ID!) { jobUpdated(id: $id) { ${JOB} } }`;

export const JOBS_UPDATED = `subscription JobsUpdated { jobsUpdated { ${JOB} } }`;
