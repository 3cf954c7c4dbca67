import sys

from cli.suite.main import main

sys.exit(main())
