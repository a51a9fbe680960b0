import sys

from facenet.cli import main

sys.exit(main())
