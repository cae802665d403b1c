from services.volunteers.app import build
from shared.kit.service import main

main("volunteers", build)
