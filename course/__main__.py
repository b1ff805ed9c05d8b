"""``python -m course`` runs the command line (see ``course.cli``)."""

from course.cli import main

raise SystemExit(main())
