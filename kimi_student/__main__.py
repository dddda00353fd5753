import sys

from kimi_student.cli import main

sys.exit(main())
