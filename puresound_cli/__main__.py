from puresound_cli.cli import main

main()
