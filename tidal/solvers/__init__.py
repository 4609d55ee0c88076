"""Reference solvers and exact solutions (plain NumPy/SciPy) for checking PINN examples."""
