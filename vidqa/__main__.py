from vidqa.cli import main

main()
