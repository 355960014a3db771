import sys

from sspd.cli import main

sys.exit(main())
