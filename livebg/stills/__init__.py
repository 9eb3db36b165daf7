"""``livebg cutout``, still pictures: the subject cut out with a real alpha channel, or put on a new background.

Two pipelines, chosen per picture by ``--subject`` (:mod:`.subject`): the
person pipeline below, and the object pipeline (:mod:`.general`): IMG.LY's
general-subject model (an IS-Net) on the whole picture at 1024x1024, specks
dropped, brought to full size by guided upsampling, for products, animals
and anything else. ``--subject auto`` (the default) picks the person
pipeline only when the light person model is sure of someone.

The person pipeline:

There is no frame budget here, so every picture gets the most careful
treatment livebg has:

1. the best model present: MODNet (a true matting model) at its reference
   size when its file is here, else the MediaPipe selfie model;
2. a first pass on the whole picture finds the person; a second pass on a
   square crop around them (padded, kept inside the picture) sees them at
   a higher resolution;
3. for the selfie model, which gives a soft *segmentation* rather than a
   matte: the second pass is a small test-time ensemble, square crops with
   three paddings, each also mirrored (six views; a crop that would cover
   nearly the whole picture is the whole picture). The model's mistakes
   on stills (a feather, a statue, a wall or autumn leaves taken for part
   of the person) come and go between such views, while the person stays,
   so where the views disagree the alpha is not trusted: the prior is the
   views' mean less one standard deviation (a pessimistic estimate), and
   only where even the optimistic one (mean plus one standard deviation)
   says background is it sure background;
4. stray blobs far smaller than the main subject are dropped, and the
   edges are re-solved as a matting problem guided by the colour picture
   (the matting Laplacian of Levin et al. 2008 with the large windows and
   box-filter products of He, Sun and Tang 2010, solved by conjugate
   gradients with that prior): the sure inside and outside are fixed; a
   narrow band around the prior's edge, and the views' zone of doubt, are
   free;
5. the result is brought to the full resolution by guided upsampling
   (local linear models of alpha in the colours, fitted at the working
   size and applied to the full-size picture, as in the fast guided
   filter), so edges follow the full-size picture;
6. by default the foreground colour is estimated at semi-transparent
   pixels (:mod:`livebg.foreground`), so no fringe of the old background
   shows on a new one.

The modules: :mod:`.matter` (steps 1-5), :mod:`.solver` (the matting
solve of step 4), :mod:`.general` (the object pipeline), :mod:`.subject`
(which pipeline, and auto's decision), :mod:`.compose` (step 6,
backgrounds, shadows, crop, the canvas and presets such as marketplace),
:mod:`.imagefiles` (reading and encoding) and :mod:`.batch` (files and
folders: a thread pool, with the model under a lock, a progress bar and
the end summary); the command line only parses its options and calls
:func:`~livebg.stills.batch.run_batch`.
"""

from livebg.stills.batch import run_batch
from livebg.stills.compose import Options, compose, cutout
from livebg.stills.imagefiles import read_image
from livebg.stills.general import ObjectMatter
from livebg.stills.matter import StillMatter
from livebg.stills.subject import SubjectCutter, decide

__all__ = ["ObjectMatter", "Options", "StillMatter", "SubjectCutter", "compose", "cutout", "decide", "read_image",
           "run_batch"]
