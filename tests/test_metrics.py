import json

import pytest
import torch
import torch.nn.functional as F
from conftest import small

from brushwork.engine.color import rgb_to_lab
from brushwork.frontends.cli import main
from brushwork.media.image_io import resize
from brushwork.engine.metrics import (edges, grid_strength, layout, outlines, palette_distance, score, sliced_wasserstein,
                                      ssim)


def test_ssim_is_one_for_equal_images_and_low_for_noise():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 40, 40, generator=g)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, torch.rand(1, 1, 40, 40, generator=g)) < 0.1
    assert 0.5 < ssim(a, (a + 0.05 * torch.randn(1, 1, 40, 40, generator=g)).clamp(0, 1)) < 1.0


def test_sliced_wasserstein_is_zero_for_the_same_distribution_and_repeatable():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 8, 10, 10, generator=g)
    shuffled = x.reshape(8, -1)[:, torch.randperm(100, generator=g)].reshape(1, 8, 10, 10)
    assert sliced_wasserstein(x, shuffled) == pytest.approx(0.0, abs=1e-9)  # order of positions is irrelevant
    shifted = x + 1.0
    assert sliced_wasserstein(x, shifted) > 0.1
    assert sliced_wasserstein(x, shifted) == sliced_wasserstein(x, shifted)


def test_score_of_trivial_outputs(content, style):
    same = score(content, content, style)
    assert same.content_distance == 0.0 and same.ssim == pytest.approx(1.0)
    as_style = score(resize(style, content.shape[-2:]), content, style)
    assert as_style.content_distance > 0.5 and as_style.ssim < 0.5
    assert same.style_distance > 5 * as_style.style_distance
    assert same.style_swd > 2 * as_style.style_swd
    assert same.layout == pytest.approx(1.0) and as_style.layout < 0.5


def test_layout_sees_the_composition_not_the_strokes(content):
    """Fine noise over the photo keeps its layout; the photo flipped upside down loses it."""
    noisy = (content + 0.15 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert layout(noisy, content) > 0.9
    assert layout(content.flip(-2), content) < 0.5
    assert layout(resize(content, (64, 64)), content) > 0.9  # the content at any size


def test_edges_see_the_photos_outlines_under_fine_strokes_and_fall_as_a_texture_covers_them():
    photo, strokes = small("sample:chelsea", 384), small("sample:strokes", 384)
    strokes = resize(strokes, tuple(photo.shape[-2:]))
    noisy = (photo + 0.15 * torch.randn(photo.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert edges(photo, photo) == pytest.approx(1.0, abs=1e-5)
    assert edges(noisy, photo) > 0.85  # noise finer than 128 px averages out
    assert edges(photo.flip(-2), photo) < 0.3 and edges(strokes, photo) < 0.2
    mixed = [edges((1 - share) * photo + share * strokes, photo) for share in (0.2, 0.5, 0.8)]
    assert mixed[0] > mixed[1] > mixed[2]


def test_outlines_keep_the_photos_drawing_when_strokes_elsewhere_outshine_it_and_edges_do_not():
    """A photo of flat shapes with a patch of hard strokes painted into a flat corner (13% of
    it, stronger than any outline) keeps its outlines: they still stand out where they were
    (outlines high), though the strokes' magnitudes swamp the gradient correlation (edges
    low). The shapes blurred away score lower; moved or replaced by noise, about chance."""
    g = torch.Generator().manual_seed(0)
    photo = torch.full((1, 3, 256, 256), 0.5)
    photo[..., 40:120, 30:110] = 0.95
    photo[..., 150:230, 140:230] = 0.05
    photo[..., 60:200, 180:190] = 0.9
    y, x = torch.meshgrid(torch.arange(256), torch.arange(256), indexing="ij")
    corner = (y >= 170) & (x < 100)
    painted = photo.clone()
    painted[..., corner] = ((x // 6 + y // 6) % 2).float()[corner]
    assert outlines(photo, photo) > 0.85
    assert outlines(painted, photo) > 0.6 and edges(painted, photo) < outlines(painted, photo) - 0.3
    blurred = F.avg_pool2d(photo, 31, 1, 15, count_include_pad=False)
    assert outlines(blurred, photo) < outlines(photo, photo) - 0.3
    assert abs(outlines(photo.roll(64, -1), photo)) < 0.2
    assert abs(outlines(torch.rand(1, 3, 256, 256, generator=g), photo)) < 0.2


def test_score_cli_table_and_json(tmp_path, capsys, image_files):
    content, style = image_files
    code = main(["score", str(content), str(style), str(content), "--json"])
    values = json.loads(capsys.readouterr().out)
    assert code == 0 and set(values) == {"content_distance", "style_distance", "ssim", "style_swd",
                                          "layout", "edges", "outlines", "palette", "copied"}
    assert values["content_distance"] == 0.0
    assert main(["score", str(content), str(style), str(style)]) == 0
    assert "style_distance" in capsys.readouterr().out
    assert main(["score", str(content), str(style), str(tmp_path / "none.png")]) == 2
    assert "output image" in capsys.readouterr().err


def test_palette_distance_sees_colours_and_their_proportions_not_their_places():
    """Identical images: 0; the same pixels shuffled: 0; a blue-and-yellow picture against a
    red-and-green one of the same layout: large; the same two colours in other proportions:
    the further from the painting's, the larger; and the units are those of a colour difference (a flat grey against a grey
    10 L lighter: about 10)."""
    g = torch.Generator().manual_seed(0)
    left = torch.zeros(1, 1, 64, 96)
    left[..., :48] = 1
    blue, yellow = torch.tensor([0.1, 0.2, 0.8]).view(1, 3, 1, 1), torch.tensor([0.9, 0.8, 0.1]).view(1, 3, 1, 1)
    red, green = torch.tensor([0.8, 0.1, 0.1]).view(1, 3, 1, 1), torch.tensor([0.1, 0.6, 0.2]).view(1, 3, 1, 1)
    painting = left * blue + (1 - left) * yellow
    shuffled = painting.reshape(3, -1)[:, torch.randperm(64 * 96, generator=g)].reshape(1, 3, 64, 96)
    assert palette_distance(painting, painting) == 0.0
    assert palette_distance(shuffled, painting) == pytest.approx(0.0, abs=1e-6)
    swapped = palette_distance(left * red + (1 - left) * green, painting)
    def blue_share(columns):  # the same two colours, blue in the first ``columns`` of 96
        part = torch.zeros(1, 1, 64, 96)
        part[..., :columns] = 1
        return palette_distance(part * blue + (1 - part) * yellow, painting)

    assert swapped > 40 and 5 < blue_share(36) < blue_share(24) < blue_share(0)
    grey = torch.full((1, 3, 32, 32), 0.5)
    lighter = torch.full((1, 3, 32, 32), _grey_with_l(float(rgb_to_lab(grey)[0, 0, 0, 0]) + 10))
    assert palette_distance(lighter, grey) == pytest.approx(10.0, abs=1.5)


def _grey_with_l(target: float) -> float:
    """The sRGB grey level whose CIELAB L is ``target`` (bisection)."""
    low, high = 0.0, 1.0
    for _ in range(40):
        mid = (low + high) / 2
        if float(rgb_to_lab(torch.full((1, 3, 1, 1), mid))[0, 0, 0, 0]) < target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def test_copied_share_sees_pieces_of_the_painting_put_in_whole_not_its_motifs_rearranged():
    """The photo: 0; the painting: 1; a 128 px piece of the painting pasted elsewhere into the
    photo (a quarter of it) is found, less its borders (there the deep features see the photo
    too); the painting cut into 32 px squares and shuffled (its motifs, rearranged: what
    style transfer should do) is not; a ghost of the painting counts more as it strengthens."""
    photo, painting = small("sample:astronaut", 256), small("sample:strokes", 256)
    copied = lambda output: score(output, photo, painting).copied
    assert copied(photo) == 0.0 and copied(painting) == 1.0
    pasted = photo.clone()
    pasted[..., 32:160, 96:224] = painting[..., 100:228, 20:148]
    assert 0.08 < copied(pasted) <= 0.25
    squares = painting.unfold(2, 32, 32).unfold(3, 32, 32).reshape(1, 3, 64, 32, 32)
    order = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    shuffled = squares[:, :, order].reshape(1, 3, 8, 8, 32, 32).permute(0, 1, 2, 4, 3, 5).reshape(1, 3, 256, 256)
    assert copied(shuffled) < 0.02
    ghosts = [copied((1 - share) * photo + share * painting) for share in (0.3, 0.5, 0.8)]
    assert ghosts[0] < ghosts[1] < ghosts[2]


def test_grid_strength_sees_a_repeated_step_and_nothing_in_plain_noise():
    torch.manual_seed(0)
    noise = torch.rand(1, 3, 96, 128)
    assert all(v < 1.1 for p in (2, 3, 4, 8) for v in grid_strength(noise, p))
    gridded = noise * 0.5
    gridded[..., ::4, :] += 0.5  # a bright row every 4 px: a grid down, none across
    across, down = grid_strength(gridded, 4)
    assert down > 1.5 and across < 1.1
    assert max(grid_strength(gridded, 3)) < 1.1  # a period the grid does not share
    with pytest.raises(ValueError, match="too small"):
        grid_strength(torch.rand(1, 3, 6, 6), 4)
