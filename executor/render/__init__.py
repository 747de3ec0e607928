"""Rendering templates where a runaway one can be bounded and stopped: in the service's
process when the template is bounded (`executor.workflow.bounds`), else in a worker process
under time, memory and size limits (`workers`, `worker`). The engine asks `renderer.Renderer`."""
