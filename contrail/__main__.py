from contrail.cli import main

main()
