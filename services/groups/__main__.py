from services.groups.app import build
from shared.kit.service import main

main("groups", build)
