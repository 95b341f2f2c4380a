import sys

from lascopf_assets.cli import main

sys.exit(main())
