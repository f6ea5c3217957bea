"""calozoo's reference Monte Carlo: an analogue EM cascade simulation of the ILD SiW ECAL stack."""

__all__: list[str] = []
