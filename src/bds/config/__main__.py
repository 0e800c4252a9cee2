import sys

from bds.config.cli import main
from bds.transmission import quiet_command_line

quiet_command_line()
sys.exit(main())
