import signal
import sys

from executor import frozen, supervisor
from executor.render import worker

frozen.use_bundled_tzdata()

# The hidden commands first: they must start fast, without the CLI's imports.
if sys.argv[1:2] == [supervisor.ENTRY]:  # run again as the supervisor of shell commands
    supervisor.main()
elif sys.argv[1:2] == [worker.ENTRY]:  # run again as a render worker
    worker.main()
elif sys.argv[1:2] == ["__serve"]:  # run again as a worker of `serve --workers N` (executor.workers.ENTRY)
    # Its parent passes stops on; ignored from the first moment (the worker then installs
    # handlers that log and ignore them, which its own children do not inherit).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    from executor.workers import worker_main

    worker_main()
else:
    from executor import launch

    given = launch.serve_arguments(sys.argv[1:])
    if given is not None:  # `executor [serve] --flag value ...`: no command line machinery needed
        launch.start(given)
    else:
        from executor.cli import main

        main()
