from hookrun.cli import main

raise SystemExit(main())
