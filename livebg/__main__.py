from livebg.cli import main

raise SystemExit(main())
