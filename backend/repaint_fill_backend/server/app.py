"""The FastAPI application: routes over the job manager, guarded by host, token and size checks."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, UploadFile
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from .. import __version__
from ..budget import check_budget_arguments, load_curve
from ..catalog import find_model
from ..engine import Engine, FillRequest
from ..exceptions import TooMuchWork
from ..fill_plan import ModelGeometry
from ..imaging import coverage_from_mask
from ..presets import DEFAULT_PRESET, resolve_settings
from ..service import CheckedRequest, EarlyPlan, check_request, check_work, plan_early
from .errors import ApiError, describe_validation_error, install_error_handlers
from .jobs import EngineFactory, JobManager, QueueLimits
from .limits import BodySizeLimit, open_upload_png
from .options import model_list, server_options
from .records import BudgetAsk, JobSpec, NoPreview
from .results import png_to_rgba
from .schemas import (
    ERROR_RESPONSES,
    Health,
    JobCreated,
    JobParams,
    JobStatus,
    ModelList,
    ServerOptions,
)
from .security import BearerAuth, HostGuard, allowed_host_names, token_matches
from .settings import ServerSettings

PARAMS_HELP = (
    "JSON object with the optional keys preset, steps, jump_length, jump_n_sample, seed, "
    "variations, model, budget (seconds; instead of preset and steps) (unknown keys are refused)"
)
PARAMS_EXAMPLE = '{"preset": "fast", "seed": 7, "variations": 2}'
RESULT_RESPONSE = {
    "content": {"image/png": {}},
    "description": "RGBA PNG the size of the request image; alpha = mask coverage",
    "headers": {
        "X-Seed": {"description": "the seed of this variation", "schema": {"type": "integer"}}
    },
}
PREVIEW_RESPONSE = {
    "content": {"image/png": {}},
    "description": "RGBA PNG like the result (variation 0), of the sampler's current estimate",
    "headers": {
        "X-Preview": {
            "description": "its number, as in the job status' preview",
            "schema": {"type": "integer"},
        }
    },
}


def create_app(
    settings: ServerSettings,
    engine_factory: EngineFactory,
    engine: Engine | None = None,
    *,
    on_worker_start: Callable[[], object] | None = None,
) -> FastAPI:
    """The app; its lifespan starts the worker (loading the model unless ``engine`` is given)."""
    limits = QueueLimits(
        settings.queue_size, settings.result_ttl, settings.max_results, settings.memory_budget
    )
    manager = JobManager(
        limits, settings.model, engine_factory, engine, on_worker_start=on_worker_start
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        manager.start()
        yield
        manager.shutdown()

    app = FastAPI(
        title="RePaint Fill backend",
        version=__version__,
        description="Inpaint a masked region with the RePaint diffusion sampler.",
        docs_url=None,  # the docs pages load scripts from a CDN; /openapi.json is enough
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.manager = manager
    install_error_handlers(app)
    # add_middleware wraps: the last added runs first. Host, then token, then body size.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(BearerAuth, token=settings.token, drain_bytes=settings.max_body_bytes)
    app.add_middleware(
        HostGuard,
        allowed=allowed_host_names(settings.host, settings.allowed_hosts),
        bind_host=settings.host,
        drain_bytes=settings.max_body_bytes,
    )
    app.include_router(_public_routes(manager))
    app.include_router(_job_routes(settings, manager))
    app.include_router(_model_routes(settings, manager))
    return app


def _bearer_check(token: str) -> Callable[..., None]:
    """A dependency that documents the bearer scheme in OpenAPI and re-checks the token."""
    scheme = HTTPBearer(auto_error=False, description="the token from the server's token file")

    def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(scheme)) -> None:
        header = f"Bearer {credentials.credentials}" if credentials else None
        if not token_matches(header, token):
            raise ApiError(
                401, "unauthorized", "missing or wrong token", {"WWW-Authenticate": "Bearer"}
            )

    return require_token


def _public_routes(manager: JobManager) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/health", response_model=Health, summary="liveness, version, loaded model")
    def health() -> Health:
        state = manager.health()
        state["model"] = public_model_name(state["model"])
        return Health(status="ok", version=__version__, **state)

    return router


def _job_routes(settings: ServerSettings, manager: JobManager) -> APIRouter:
    router = APIRouter(
        prefix="/v1/jobs",
        dependencies=[Depends(_bearer_check(settings.token))],
        responses=ERROR_RESPONSES,
    )
    # Decoding checks an upload at its full pixel size: one at a time, so concurrent uploads
    # cannot add up to many decoded images (the worker decodes again when the job starts).
    decode_slot = threading.BoundedSemaphore(1)

    @router.post("", status_code=202, response_model=JobCreated, summary="queue a fill")
    def submit_job(
        image: UploadFile = File(description="PNG, 8-bit RGB/RGBA/gray: the crop to fill"),
        mask: UploadFile = File(description="PNG, 8-bit gray, same size: 255 = fill, 0 = keep"),
        params: str = Form("{}", description=PARAMS_HELP, examples=[PARAMS_EXAMPLE]),
    ) -> JobCreated:
        job_params = parse_params(params)
        check_model(settings, manager, job_params.model)
        budget, total = plan_budget(settings, job_params)
        image_png, mask_png = image.file.read(), mask.file.read()
        decode = partial(
            request_from_upload, settings, job_params, image_png, mask_png, budget is not None
        )
        with decode_slot:
            checked = decode()  # every input error is answered now, not when the job runs
            early = None
            if budget is None:
                early = check_planned_work(settings, manager.geometry(job_params.model), checked)
        request = checked.request
        if budget is not None:
            preset = f"budget={budget.seconds:g}s"
        else:
            preset = job_params.preset.value if job_params.preset else DEFAULT_PRESET
            total = request.settings.schedule().model_calls
        spec = JobSpec(
            upload=decode,
            upload_bytes=len(image_png) + len(mask_png),
            size=request.image.size,
            variations=request.variations,
            model=job_params.model,
            preset=preset,
            total=total,
            budget=budget,
            max_model_calls=settings.max_model_calls,
            early_plan=early,
        )
        del request, checked  # the queued job holds the compressed upload only
        job = manager.submit(spec)
        return JobCreated(id=job.id, state=job.state, total=total)

    @router.get("/{job_id}", response_model=JobStatus, summary="state and progress of a job")
    def job_status(job_id: str) -> JobStatus:
        return manager.status(job_id)

    @router.delete("/{job_id}", response_model=JobStatus, summary="cancel a job")
    def cancel_job(job_id: str) -> JobStatus:
        return manager.cancel(job_id)

    @router.get(
        "/{job_id}/result",
        response_class=Response,
        responses={200: RESULT_RESPONSE},
        summary="the filled layer of variation `index`",
    )
    def job_result(
        job_id: str,
        index: int = Query(0, description="variation, from 0"),
        format: str = Query(  # noqa: A002 - the query parameter's name
            "png",
            pattern="^(png|rgba)$",
            description="png, or rgba: uncompressed 8-bit R,G,B,A rows (X-Width, X-Height), "
            "for clients on the same machine, where decoding costs more than the bytes",
        ),
    ) -> Response:
        if index < 0:
            raise ApiError(400, "bad_index", "index must be 0 or more")
        try:
            png, seed = manager.result(job_id, index)
        except IndexError as error:
            raise ApiError(404, "bad_index", str(error)) from error
        headers = {"X-Seed": str(seed), "Cache-Control": "no-store"}
        if format == "rgba":
            rgba, width, height = png_to_rgba(png)
            headers.update({"X-Width": str(width), "X-Height": str(height)})
            return Response(rgba, media_type="application/octet-stream", headers=headers)
        return Response(png, media_type="image/png", headers=headers)

    @router.get(
        "/{job_id}/preview",
        response_class=Response,
        responses={200: PREVIEW_RESPONSE},
        summary="the latest estimate of a running fill (404 before the first one)",
    )
    def job_preview(job_id: str) -> Response:
        try:
            png, number = manager.preview(job_id)
        except NoPreview as error:
            raise ApiError(404, "no_preview", str(error)) from error
        headers = {"X-Preview": str(number), "Cache-Control": "no-store"}
        return Response(png, media_type="image/png", headers=headers)

    return router


def _model_routes(settings: ServerSettings, manager: JobManager) -> APIRouter:
    router = APIRouter(
        prefix="/v1",
        dependencies=[Depends(_bearer_check(settings.token))],
        responses=ERROR_RESPONSES,
    )

    @router.get("/models", response_model=ModelList, summary="known and installed models")
    def models() -> ModelList:
        return model_list(settings, manager.loaded_model)

    @router.get(
        "/options",
        response_model=ServerOptions,
        summary="presets, limits, detail choices and models: what a job may ask for",
    )
    def options() -> ServerOptions:
        return server_options(settings, manager.loaded_model)

    return router


def parse_params(text: str) -> JobParams:
    """The ``params`` form field -> JobParams; 422 with a message for anything it cannot take."""
    try:
        raw = json.loads(text or "{}")
    except RecursionError as error:
        raise ApiError(422, "invalid_params", "params is nested too deeply") from error
    except ValueError as error:  # bad JSON, or an integer beyond Python's digit limit
        raise ApiError(422, "invalid_params", f"params is not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ApiError(422, "invalid_params", "params must be a JSON object")
    try:
        return JobParams.model_validate(raw)
    except ValidationError as error:
        raise ApiError(422, "invalid_params", describe_validation_error(error)) from error
    except (RecursionError, ValueError) as error:
        message = "params has values this server cannot read"
        raise ApiError(422, "invalid_params", message) from error


def plan_budget(settings: ServerSettings, params: JobParams) -> tuple[BudgetAsk | None, int]:
    """(the job's budget, the most model calls it may pick) or (None, 0) without a budget."""
    if params.budget is None:
        return None, 0
    check_budget_arguments(
        params.budget,
        spell=str,
        preset=params.preset,
        steps=params.steps,
        jump_length=params.jump_length,
        jump_n_sample=params.jump_n_sample,
    )
    per_call_limit = settings.max_model_calls // params.variations
    affordable = [p.model_calls for p in load_curve() if p.model_calls <= per_call_limit]
    if not affordable:
        raise ApiError(
            413,
            "too_much_work",
            f"the server allows {settings.max_model_calls} model calls per job and no schedule "
            f"fits that with {params.variations} variations: ask for fewer variations",
        )
    return BudgetAsk(params.budget, per_call_limit), max(affordable)


def request_from_upload(
    settings: ServerSettings,
    params: JobParams,
    image_png: bytes,
    mask_png: bytes,
    budgeted: bool = False,
) -> CheckedRequest:
    """Resolve sampling settings and decode the uploads; every problem is a 4xx with a message.

    With a budget the settings are the default preset's until the worker picks its own.
    Before decoding, one pass of the schedule x variations (a lower bound of any plan) is held
    to the server's limit; ``check_planned_work`` counts the exact plan once decoded.
    """
    sampling = resolve_settings(
        params.preset.value if params.preset else None,
        steps=params.steps,
        jump_length=params.jump_length,
        jump_n_sample=params.jump_n_sample,
    )
    work = sampling.schedule().model_calls * params.variations
    if not budgeted and work > settings.max_model_calls:
        raise TooMuchWork(
            f"this job needs {work} model calls (steps x resamplings x variations); the server "
            f"allows {settings.max_model_calls}: use fewer steps, resamplings or variations"
        )
    picture = open_upload_png(image_png, "image", settings.max_pixels)
    coverage = coverage_from_mask(open_upload_png(mask_png, "mask", settings.max_pixels))
    request = FillRequest(
        picture, coverage, sampling, params.seed, params.variations, params.context_margin,
        detail=params.detail.value,
    )  # fmt: skip
    return check_request(request)


def check_planned_work(
    settings: ServerSettings, geometry: ModelGeometry | None, checked: CheckedRequest
) -> EarlyPlan | None:
    """413 when the job's exact plan (regions, levels, tiles) x variations exceeds the limit;
    the plan, for the worker to reuse.

    The plan needs the model's geometry, known once the server has loaded that model; a job for
    a model not loaded yet is held to the limit by the worker when it plans (the same code,
    as the failed job's error).
    """
    if geometry is None:
        return None
    early = plan_early(geometry, checked)
    check_work(early.plan, checked.request.variations, settings.max_model_calls)
    return early


def check_model(settings: ServerSettings, manager: JobManager, model: str | None) -> None:
    """A job may only name the server's model, the loaded one, or an installed one (422)."""
    if model is None or model in (settings.model, manager.loaded_model):
        return
    known = find_model(model)
    if known is None:
        raise ApiError(
            422,
            "unknown_model",
            f"model {model!r} is not installed on this server and not a known model; "
            "GET /v1/models lists them",
        )
    if not known.available:
        raise ApiError(
            422,
            "model_not_present",
            f"model {model!r} is not installed on this server; to get it: {known.how_to_get}",
        )


def public_model_name(model: str | None) -> str | None:
    """The model as the unauthenticated health check shows it: a local path by its last part."""
    if model is None:
        return None
    path = Path(model).expanduser()
    return path.name if path.exists() else model
