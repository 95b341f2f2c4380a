from lascopf_assets.api.app import main

main()
