import sys

from mlops_assets.cli.main import main

sys.exit(main())
