from mealimpact.cli import main

raise SystemExit(main())
