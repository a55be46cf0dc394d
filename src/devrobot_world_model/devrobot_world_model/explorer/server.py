"""The explorer's web app (Starlette): the page, its script and style, and a JSON API.

Every endpoint is a plain function; Starlette runs those in its thread pool, so a step's
predictions never hold up the event loop. Errors come back as `{"error": "..."}` with a 4xx
status. The page (`static/`) needs nothing from the network.

    GET  /                                       the page
    GET  /api/session                            bags, model, training job
    GET  /api/bags/{bag}/steps?start=&stop=      the timeline: action, status, transition
                               ?since_version=V  only what changed since version V
    GET  /api/bags/{bag}/errors                  per-step prediction error (null: not yet)
    GET  /api/bags/{bag}/steps/{i}               command, MotorState, frames, model's errors
    GET  /api/bags/{bag}/steps/{i}/images/{name}.png
    GET  /api/bags/{bag}/steps/{i}/sweep         every action's error, counterfactual tests
    GET  /api/bags/{bag}/steps/{i}/attention     per-layer attention metrics and map names
    GET  /api/training                           the training job's progress (or null)
    POST /api/training                           start one: {bag, start, stop, updates, ...}
    POST /api/training/{pause|resume|cancel|finish}
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from devrobot_world_model.explorer.bag_index import BagError
from devrobot_world_model.explorer.errors import ExplorerError

STATIC = Path(__file__).resolve().parent / 'static'
JOB_ACTIONS = ('pause', 'resume', 'cancel', 'finish')
NO_CACHE = {'Cache-Control': 'no-store'}  # steps of a live bag and model views change


def _error(message: str, status: int = 404) -> JSONResponse:
    return JSONResponse({'error': message}, status_code=status)


def _integer(request: Request, name: str, default=None) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == '':
        return default
    try:
        return int(value)
    except ValueError:
        raise ExplorerError(f'{name} must be an integer, got {value!r}') from None


def build_app(explorer) -> Starlette:
    """The Starlette app serving `explorer` (an Explorer)."""

    def guarded(handler):
        def endpoint(request: Request):
            try:
                return handler(request)
            except ExplorerError as error:
                return _error(str(error))
            except (BagError, ValueError) as error:
                return _error(str(error), 422)
        return endpoint

    def bag_and_step(request: Request) -> tuple:
        return request.path_params['bag'], request.path_params['index']

    def page(request: Request):
        return FileResponse(STATIC / 'index.html', headers=NO_CACHE)

    def session(request: Request):
        return JSONResponse(explorer.session(), headers=NO_CACHE)

    def steps(request: Request):
        bag = explorer.bag(request.path_params['bag'])
        start, version, total, chosen = bag.snapshot(
            _integer(request, 'since_version', None), max(0, _integer(request, 'start', 0)),
            _integer(request, 'stop', None))
        return JSONResponse({
            'start': start, 'total': total, 'version': version,
            'action': [s.action for s in chosen],
            'status': [s.outcome.status.name for s in chosen],
            'transition': [s.transition for s in chosen],
            'stamp_ns': [s.outcome.start_ns for s in chosen]}, headers=NO_CACHE)

    def errors(request: Request):
        return JSONResponse(explorer.error_series(request.path_params['bag']), headers=NO_CACHE)

    def step(request: Request):
        return JSONResponse(explorer.step_detail(*bag_and_step(request)), headers=NO_CACHE)

    def image(request: Request):
        data = explorer.image(*bag_and_step(request), request.path_params['name'])
        return Response(data, media_type='image/png', headers=NO_CACHE)

    def sweep(request: Request):
        return JSONResponse(explorer.sweep(*bag_and_step(request)), headers=NO_CACHE)

    def attention(request: Request):
        return JSONResponse(explorer.attention(*bag_and_step(request)), headers=NO_CACHE)

    def training(request: Request):
        job = explorer.job
        return JSONResponse(job.status() if job is not None else None, headers=NO_CACHE)

    async def start_training(request: Request):
        from devrobot_world_model.explorer.training_job import TrainingRequest
        try:
            body = await request.json()
            fields = {k: body[k] for k in ('bag', 'start', 'stop', 'updates', 'loss',
                                           'threshold', 'batch_size', 'out', 'seed')
                      if k in body}
            job_request = TrainingRequest(**fields)
            for name in ('bag', 'start', 'stop', 'updates', 'batch_size', 'seed'):
                setattr(job_request, name, int(getattr(job_request, name)))
            if job_request.threshold is not None:
                job_request.threshold = float(job_request.threshold)
            job_request.check()
        except (ValueError, TypeError, KeyError) as error:
            return _error(f'bad training request: {error}', 422)
        from starlette.concurrency import run_in_threadpool
        try:
            status = await run_in_threadpool(explorer.start_training, job_request)
        except ExplorerError as error:
            return _error(str(error), 409)
        return JSONResponse(status)

    def control(request: Request):
        action = request.path_params['action']
        if action not in JOB_ACTIONS:
            return _error(f'unknown action {action!r}: expected one of {", ".join(JOB_ACTIONS)}')
        if explorer.job is None:
            return _error('no training job', 409)
        getattr(explorer.job, action)()
        return JSONResponse(explorer.job.status())

    step_path = '/api/bags/{bag:int}/steps/{index:int}'
    routes = [
        Route('/', page),
        Route('/api/session', guarded(session)),
        Route('/api/bags/{bag:int}/steps', guarded(steps)),
        Route('/api/bags/{bag:int}/errors', guarded(errors)),
        Route(step_path, guarded(step)),
        Route(step_path + '/images/{name}.png', guarded(image)),
        Route(step_path + '/sweep', guarded(sweep)),
        Route(step_path + '/attention', guarded(attention)),
        Route('/api/training', guarded(training), methods=['GET']),
        Route('/api/training', start_training, methods=['POST']),
        Route('/api/training/{action}', guarded(control), methods=['POST']),
        Mount('/static', StaticFiles(directory=STATIC), name='static'),
    ]
    return Starlette(routes=routes)
