"""The operations: one module each, holding one `imgflow.imaging.step.Step` subclass
(spec, size plan, pixel function, names). `imgflow.imaging.registry` finds them."""
