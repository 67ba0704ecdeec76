from footlight.cli import main

raise SystemExit(main())
