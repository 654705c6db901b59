"""NLP jobs on the `nlp` queue: label mining and longitudinal structure per project."""

from curation.models import Role
from curation.tasking import JobContext, job_task


def _clean(params, project):
    from .services import clean_mining_params

    return clean_mining_params(params, project)


def _chunk(ctx, spec):
    from .services import run_mining_chunk

    return run_mining_chunk(ctx, spec)


def _finish(ctx, state, results):
    from .services import finish_mining

    return finish_mining(ctx, state, results)


@job_task(
    kind="nlp.mine_labels",
    label="Mine labels from reports",
    queue="nlp",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=_clean,
    exclusive=True,
    chunk=_chunk,
    finish=_finish,
)
def mine_labels(ctx: JobContext):
    """Label every report of the project (positive/negative/uncertain with evidence) as a new labeling run."""
    from .services import plan_mining

    return plan_mining(ctx)


def _clean_structure(params, project):
    from .structure_service import clean_structure_params

    return clean_structure_params(params, project)


def _structure_chunk(ctx, spec):
    from .structure_service import run_structure_chunk

    return run_structure_chunk(ctx, spec)


def _structure_finish(ctx, state, results):
    from .structure_service import finish_structure

    return finish_structure(ctx, state, results)


@job_task(
    kind="structure.extract",
    label="Extract report structure",
    queue="nlp",
    start_roles={Role.ADMIN, Role.CURATOR},
    time_limit=6 * 3600,
    clean_params=_clean_structure,
    exclusive=True,
    chunk=_structure_chunk,
    finish=_structure_finish,
)
def extract_structure(ctx: JobContext):
    """Findings and their change against the prior study for every report, by patient; fills the structure queue."""
    from .structure_service import plan_structure

    return plan_structure(ctx)
