from services.intake.app import build
from shared.kit.service import main

main("intake", build)
