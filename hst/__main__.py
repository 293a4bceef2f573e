from hst.cli import main

raise SystemExit(main())
