from services.volunteers.app import build
from shared.service import main

main("volunteers", build)
