import sys

from gaitcoach.cli import main

sys.exit(main())
