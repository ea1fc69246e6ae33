// The pipeline editor: one list item per step, cloned from the page's <template>s, read
// back into `OperationInput`s (one field set per step: the input is @oneOf).

function integer(step, name) {
  const value = step.querySelector(`[name="${name}"]`).value.trim();
  return value === "" ? null : Number.parseInt(value, 10);
}

function choice(step, name) {
  return step.querySelector(`[name="${name}"]`).value;
}

const READERS = {
  rotate: (step) => ({ rotate: { degrees: integer(step, "degrees") } }),
  resize: (step) => ({ resize: { width: integer(step, "width"), height: integer(step, "height") } }),
  forceResize: (step) => ({ forceResize: { width: integer(step, "width"), height: integer(step, "height") } }),
  convert: (step) => ({
    convert: { format: choice(step, "format"), quality: integer(step, "quality"), maxBytes: integer(step, "maxBytes") },
  }),
  flip: (step) => ({ flip: { direction: choice(step, "direction") } }),
  grayscale: () => ({ grayscale: true }),
};

export class PipelineEditor {
  #list;
  #afterRemove;

  constructor(list, afterRemove) {
    this.#list = list;
    this.#afterRemove = afterRemove;
  }

  add(kind) {
    const template = document.getElementById(`step-${kind}`);
    if (!template || !(kind in READERS)) throw new Error(`unknown step ${kind}`);
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
  // is checked here. Returns [operations, problem].
  read() {
    const steps = [...this.#list.querySelectorAll(".step")];
    if (steps.length === 0) return [null, "Add at least one step."];
    const operations = steps.map((step) => READERS[step.dataset.kind](step));
    const emptyResize = operations.find((op) => op.resize && op.resize.width === null && op.resize.height === null);
    if (emptyResize) return [null, "A resize needs a width, a height or both."];
    return [operations, null];
  }
}
