from lmrec.cli import main

main()
