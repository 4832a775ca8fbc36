from cerebro.cli.main import main

main()
