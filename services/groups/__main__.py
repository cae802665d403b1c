from services.groups.app import build
from shared.service import main

main("groups", build)
