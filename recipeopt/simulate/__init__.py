"""The bundled simulator: recipe families, the closed loop, and generated history.

* :mod:`recipeopt.simulate.etch`: the plasma-etch response model (one recipe = one task).
* :mod:`recipeopt.simulate.family`: families, recipe indices, optimum and median.
* :mod:`recipeopt.simulate.loop`: a whole campaign against a simulated recipe.
* :mod:`recipeopt.simulate.history`: historical recipes shaped like fab logs.
"""

#: The bundled families: ``etch`` (etch42's setpoints), ``etch-unlike`` (the same setpoints
#: and physics with constants from outside the etch prior: the out-of-distribution test
#: for a prior meta-trained on etch42's history), ``etch-faults`` (etch recipes on a tool whose
#: runs fail in two regions: :mod:`recipeopt.simulate.faults`) and ``dep`` (dep7's categorical
#: space).
FAMILIES = ("etch", "etch-unlike", "etch-faults", "dep")
