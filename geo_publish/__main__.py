from geo_publish.cli.main import main

raise SystemExit(main())
