from libs.networks.refresh import main

main()
