"""`imgflow loadtest`: the reference system's load test, through the public API only.

N single-operation jobs, an equal mix over the four queues (rotate 90, resize fit
800x600, force resize 800x600, convert to the other of JPEG/PNG), round-robin over
(operation x input image), at most C jobs in flight. Each job is uploaded with the
GraphQL multipart `submitImage`, awaited through the `jobUpdated` subscription
(graphql-transport-ws), then its result is downloaded and its format and size checked.
A job succeeds only if all of that holds.

Latency is submit start -> terminal event received; the download is timed apart.
Percentiles interpolate linearly between closest ranks (numpy's default). Latency
figures cover successful jobs; throughput counts successful jobs over the wall time
from the first submit to the last job's end.

Default inputs are synthetic images made in memory (deterministic). The README's
figures use the bench images, passed explicitly:
`--jpeg ../shared/bench-images/photo_1mp.jpg --png ../shared/bench-images/photo_2mp.png`.

The rooms: `images` (inputs), `mix` (the jobs), `api` (the public API as a client sees
it), `runner` (one job, and C at a time), `results`, `report` (statistics, table and
JSON), `terminal` (output and progress) and `command` (arguments, entry point).
"""
