import sys

from executor import supervisor
from executor.render import worker

# The hidden commands first: they must start fast, without the CLI's imports.
if sys.argv[1:2] == [supervisor.ENTRY]:  # run again as the supervisor of shell commands
    supervisor.main()
elif sys.argv[1:2] == [worker.ENTRY]:  # run again as a render worker
    worker.main()
else:
    from executor.cli import main

    main()
