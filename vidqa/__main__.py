from vidqa.cli.commands import main

main()
