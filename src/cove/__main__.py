from cove.cli import main

main()
