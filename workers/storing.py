"""A job's outputs while a worker makes them: each stored under its own key as soon as
it is encoded, and recorded on the job with a write fenced by the claiming attempt, so
subscribers see progress and a re-run (after a crash, a transient failure or retryJob)
renders only what is missing. The last output is recorded with the job's success."""

from __future__ import annotations

from dataclasses import replace

from imgflow.backends.storage import output_key
from imgflow.faults import Faults
from imgflow.imaging.outputs import Output, StoredImage
from imgflow.jobs import transitions
from imgflow.jobs.outputs import outputs_of
from imgflow.models import Job
from imgflow.services import Services
from workers.pipeline import Rendered


class LeaseLost(Exception):
    """Another attempt took the job over while this one was storing its outputs."""


class JobOutputs:
    def __init__(self, services: Services, job: Job, faults: Faults) -> None:
        self.services = services
        self.job = job
        self.faults = faults
        self.outputs = {output.name: output for output in outputs_of(job)}
        self.left = len(self.pending())

    def pending(self) -> list[Output]:
        """The outputs no earlier attempt recorded, in the job's order."""
        return [output for output in self.outputs.values() if output.image is None]

    async def store(self, rendered: Rendered) -> None:
        """Write one output and record it; LeaseLost when the job is no longer ours."""
        job, storage = self.job, self.services.storage
        key = output_key(job.id, rendered.name, rendered.info.format)
        await storage.put(key, rendered.data, rendered.info.format.mime_type)
        stored = StoredImage(key, rendered.info)
        self.outputs[rendered.name] = replace(self.outputs[rendered.name], image=stored)
        self.left -= 1
        if not self.left:
            return  # recorded with the job's success, in the same write
        recorded = list(self.outputs.values())
        if await transitions.store_output(self.services, job.id, job.attempts, recorded) is None:
            raise LeaseLost(job.id)
        self.faults.trip("output_stored")

    async def succeed(self) -> Job | None:
        outputs = list(self.outputs.values())
        return await transitions.succeed(self.services, self.job.id, self.job.attempts, outputs)
