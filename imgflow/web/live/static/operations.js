// The pipeline editor: one list item per step, cloned from the page's <template>s (the
// server writes one per operation from its registry), read back into `OperationInput`s
// (one field set per step: the input is @oneOf). Each input is named after its GraphQL
// field and says its kind in data-type, so no operation is named here.

const READERS = {
  integer: (value) => (value.trim() === "" ? null : Number.parseInt(value, 10)),
  number: (value) => (value.trim() === "" ? null : Number.parseFloat(value)),
  choice: (value) => value,
  text: (value) => value,
};

function readStep(step) {
  const fields = [...step.querySelectorAll("[name][data-type]")];
  // A step without fields (grayscale) is a Boolean member: `true`.
  if (fields.length === 0) return { [step.dataset.kind]: true };
  const values = {};
  for (const field of fields) {
    const value = READERS[field.dataset.type](field.value);
    if (value !== null) values[field.name] = value;
  }
  return { [step.dataset.kind]: values };
}

export class PipelineEditor {
  #list;
  #afterRemove;

  constructor(list, afterRemove) {
    this.#list = list;
    this.#afterRemove = afterRemove;
  }

  add(kind) {
    const template = document.getElementById(`step-${kind}`);
    if (!template) throw new Error(`unknown step ${kind}`);
    const step = template.content.firstElementChild.cloneNode(true);
    const remove = step.querySelector(".remove");
    // Several steps have a Remove button each: say which one this is.
    remove.setAttribute("aria-label", `Remove step: ${step.querySelector(".step-name").textContent}`);
    remove.addEventListener("click", () => {
      step.remove();
      this.#afterRemove();
    });
    this.#list.append(step);
    (step.querySelector("input, select") ?? remove).focus();
    return step;
  }

  // Native validation has run (the inputs carry required/min/max); what it cannot say
  // the service answers with a BAD_USER_INPUT message. Returns [operations, problem].
  read() {
    const steps = [...this.#list.querySelectorAll(".step")];
    if (steps.length === 0) return [null, "Add at least one step."];
    return [steps.map(readStep), null];
  }
}
