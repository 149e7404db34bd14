from edgejudge.cli import main

main()
