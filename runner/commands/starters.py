"""The starter workflows ``flow init`` writes: commented, valid, and runnable as they are.

``@NAME@`` is the workflow's name and ``@FILE@`` the file's path as the user gave it.
"""

from __future__ import annotations

PHOTOS = """\
# A starter workflow written by `flow init`: a web thumbnail of every photo, and
# statistics of how bright the photos are.
# Put photos (.jpg, .jpeg, .png; subfolders too) in photos/, then:
#
#   flow validate @FILE@          check it: every mistake, with its line
#   flow run @FILE@               run it on every core; run again, it skips what is done
#   flow run @FILE@ -p size=512   the same with another value of a param
#   flow steps                    the steps you can use; flow steps NAME shows one
flow: 1
name: @NAME@
description: A web thumbnail of every photo, and statistics of their brightness.

params:                         # ${name} below takes these values; -p name=value overrides
  photos: photos                # where the photos are (relative to where you run flow)
  size: 256                     # the longest side of a thumbnail, in pixels
  out: build/@NAME@             # where the results go

inputs:                         # where the items come from: here, one item per photo
  photos:
    glob: ["${photos}/**/*.jpg", "${photos}/**/*.JPG", "${photos}/**/*.jpeg",
           "${photos}/**/*.png"]

steps:                          # a step takes from the step above unless it says from:
  - id: upright
    from: photos
    uses: image.auto_orient     # turned as the camera's EXIF orientation says
  - id: shrink
    uses: image.thumbnail
    with:
      size: ${size}
  - id: save
    uses: image.save
    with:
      to: "${out}/{relpath}.jpg"  # {relpath}: the photo's path below photos/, no suffix
      quality: 85

  - id: brightness              # a second branch, from the photos again
    from: photos
    uses: image.measure
    with:
      what: brightness          # 0 (black) to 255 (white)
  - id: summary
    uses: numeric.stats         # a reduce: every photo's brightness in, one result out
  - id: write
    uses: io.write
    with:
      to: "${out}/brightness.json"
"""

NUMBERS = """\
# A starter workflow written by `flow init --numbers`: the squares of 0 to n-1,
# summed, and their statistics. Numbers need no files: it runs as it is.
#
#   flow run @FILE@                 run it on every core
#   flow run @FILE@ -p n=10000000   ten million squares
#   flow validate @FILE@            check it: every mistake, with its line
#   flow steps                      the steps you can use; flow steps NAME shows one
flow: 1
name: @NAME@
description: The squares of 0 to n-1, summed, and their statistics.

params:                         # ${name} below takes these values; -p name=value overrides
  n: 1000                       # how many numbers
  out: build/@NAME@             # where the results go

inputs:                         # where the items come from: here, the numbers 0 to n-1
  numbers:
    range: {start: 0, stop: "${n}"}   # inside { }, quote a ${param}

steps:                          # a step takes from the step above unless it says from:
  - id: square
    from: numbers
    uses: numeric.square        # a map: one number in, its square out
  - id: total
    uses: numeric.sum           # a reduce: every square in, their sum out
  - id: write
    uses: io.write
    with:
      to: "${out}/sum.json"

  - id: stats                   # a second branch, from the squares
    from: square
    uses: numeric.stats         # count, min, max, mean, stdev, median
  - id: write-stats
    uses: io.write
    with:
      to: "${out}/stats.json"
"""

# What `flow init` says after writing each starter: what it does, and what to do next.
SAID = {
    "photos": ("a web thumbnail of every photo, and statistics of their brightness",
               ["put photos (.jpg, .jpeg, .png; subfolders too) in photos/",
                "flow run @FILE@"]),
    "numbers": ("the squares of 0 to 999, summed, and their statistics",
                ["flow run @FILE@", "flow run @FILE@ -p n=10000000"]),
}
