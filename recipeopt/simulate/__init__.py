"""The bundled simulator: recipe families, the closed loop, and generated history.

* :mod:`recipeopt.simulate.etch`: the plasma-etch response model (one recipe = one task).
* :mod:`recipeopt.simulate.family`: families, recipe indices, optimum and median.
* :mod:`recipeopt.simulate.loop`: a whole campaign against a simulated recipe.
* :mod:`recipeopt.simulate.history`: historical recipes shaped like fab logs.
"""
