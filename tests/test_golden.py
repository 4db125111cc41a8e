"""Format stability: files made today must decode tomorrow. These pin the exact bytes that the
shipped models produce for fixed images; a change to the arithmetic, the coding order, the
coder or the container shows up here first (and then needs a new format version or model
name, see docs/FORMAT.md)."""
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pixcodec
from pixcodec import adapt, container, zoo
from pixcodec.sections import ZIGZAG_PLANES

from conftest import model_plane

ASSETS = Path(__file__).parent / "assets"


def pattern(colours: int, levels: int = 256) -> np.ndarray:
    gray = (np.add.outer(np.arange(12) * 7, np.arange(10) * 5) % 256).astype(np.uint8)
    if levels == 2:
        return np.where(gray % 3 == 0, 255, 0).astype(np.uint8)
    return gray if colours == 1 else np.stack([gray, gray[::-1], 255 - gray], axis=2)


def source(model: str, folder):
    """The pattern as the model takes it: an array, or a 1-bit PNG for a binary model."""
    info = zoo.model_info(model)
    pixels = pattern(info.colours, info.levels)
    if info.levels != 2:
        return pixels
    path = folder / "pattern.png"
    Image.fromarray(pixels).convert("1").save(path)
    return path


# model -> sha256 of (the whole .pxc file, the model's range-coder payload in it), as written
# today: format version 3, coder 2 (the cut payload). The pattern is one tile, whose stream is
# the very payload version 2 wrote (the same hashes as then): only the container changed.
GOLDEN = {
    "pixelcnn-rgb-v1": ("cb2b9ec3c8e158530b0abcac64256d9e72fe83184bcb71e4d8f324e2a6256d55",
                        "6fcd79adf82b735f5ea627941768e03ac54658774c24f4e53173422c9f4abe60"),
    "pixelcnn-gray-v1": ("cb8ed0090b3e8968775873a3d44254260bef762292618f288a9680ce14f68650",
                         "b12614f5415f897436bf0a514592d0f143de692ac67a11b90086ef4a9d74ed4c"),
    "pixelcnn-binary-v1": ("bc0155a0b4321a826d63071314b8714f2bddf9d18712c59bd8d63225583eaa6d",
                           "fd077395d76f9ae56b8604a3ffee4e768a93af62bede82b4a3c6ff30b868ce3f"),
    "row-lstm-binary-v1": ("b6f028bc44d9b42177b7512c16c11deb5e53af9e60e5382fdb94c50cabb8eef1",
                           "27b580b7be2cca3d0c33f8923e03dfddf724c0efb12749eb5c07977634748d5c"),
    "diag-bilstm-binary-v1": ("caeef56e2dba24b96b0e4307872da831eedf6b3c880174311baa47ecbe552221",
                              "54a6faeb7ff49497dc22509b1d025717bc43078227dd9130a990182282103b5c"),
    "row-lstm-rgb-v1": ("4efc45de54973335ead2fd475e1badc1e53ad51fc84c18666507fc0778087dcb",
                        "0e4eb0699c613b10bedee2fac3919413363085cd9c91933501bd1ade31e3365a"),
    "diag-bilstm-rgb-v1": ("eea4e8a345a35dc20928e280e5f93e4fbee86b381a04a1b7f9cdbbb63c2448cf",
                           "055d7458909d06cedc4a0927ae064ec8bf0b0a6ccd847033bf7090df62cb9fed"),
    # The pattern is too small for an adaptation to pay: no ADPT section.
    "logistic-rgb-v1": ("59dd2a5066ee7d82485807ceedfff55d4b9a50cdc883ddb67747cc883b60e361",
                        "c3eea2463c54ebda78ca4b247494748bd46466c64d134566585c06cfbf26f63e"),
    "logistic-rgb-v2": ("c042112a97b5398fe9527a304bc79689ed82f15b438ccaefcc68271910962a9c",
                        "e13b288c9e14dd1ffa322858b86b6b053ec0eee910a0d22997133c903cbf4ec7"),
    "logistic-rgb-v3": ("96c59c0105704496fb0a69cdb80f69c820ba836292fdda5ee422ef1f0cc56cbb",
                        "a40f6cd5165621331b3e02063d1cae9b5107e20b338fcc8528f6c6be02b94e94"),
    "logistic-rgb-v4": ("ef4754f8c1de854c69d89c2b0761761d173d725cb04bfb5b8c1fa1d3cb93d02c",
                        "f65ba7b3859574a4197075e44cac341a785aad0c873a85840c7803a0f73bb729"),
    "logistic-rgb-v5": ("27b133559a1920ea3f5e905ce81ef3333881736b0be3f3c739287050686e5404",
                        "cee53960d9f018c7d4d81612dba0ed56c14930abbfb65c1429606e924d3f4b8a"),
    "logistic-rgb-v6": ("22512ed46914a6fe4c52f14f66639540cf9a1fe76c6402a9cb62f74187aa15e6",
                        "e67c49d7dded651bcc74d86ff91502188ee3535076fd3a24bf05933bb36bb13c"),
    "logistic-rgb-v7": ("2597c64aa5682dd205e9796f34fda406761a0d658b79ecb7a826661a78804d3c",
                        "3a49fcc802bdb40dc91af13291647b32b9563725301b0cb5d35bfbb0c34121ec"),
    "pixelcnn-binary-v2": ("db567a67659d4734007b63870a679031b12e8aeb50621268e322afeaaeca4474",
                           "217867562806e45a3e6de0feea336620f7dbf288217cce31ccf7ef234ef28113"),
    "pixelcnn-binary-v3": ("180a7a353434714dcf977485893b2da9b10cefd56e012a9b80e97dd4b85cd74b",
                           "84d89c778972d9d239ec390a638039711c9cfdf4d54b83de05f04b6860c934a7"),
    "row-lstm-binary-v2": ("0e4e6a2b22d9ceff35a26c9bb3892412ffeff3f96f26b232a9543bea75d521f4",
                           "f8df1454c8512c8bb10aec8940c148569fb7d150cc3c2dd1f2d6853dd11cb684"),
    "pixelcnn-binary-v4": ("bb97bde897e64e3b434b331185faa35e76aca6d0c4978ad30a80d11bcc5f2a34",
                           "e878e773d9b64c2b61ee5aea722443e7dd3d1ad6075cde70b29df571fec3ad84"),
    "diag-bilstm-binary-v2": ("50c1f08429c3b20f49bbadf403d84d6b9ec160daf911f264ff18170fc518c812",
                              "f4762812e69eb8445fd7b4f8f3f5522e42f714bd10cb59fd301850b468157532"),
    "row-lstm-binary-v3": ("d38df5282d01f7f02ecf15941fef6d2f601ecefaf1396ffed1ae73bf85612976",
                           "f4f154a76748fc0b2435e3566f1b7c451b54b4db19ce3ae1ef46d9cda0c14764"),
    "pixelcnn-binary-v5": ("9206cac0cd9a7449465c782979b52db7394ff45ad562f8025d023ece1f38522a",
                           "bfc792d294f3a819b05112b958b3e3399fbfde8430f9a32c6ceffd9b04b30783"),
    # The integer engine's first model: coder 4, the engine's rANS streams with the online
    # stage (since 2026-12-06, evening; its coder 3 file is in WRITTEN_WITH_CODER_3).
    "logistic-rgb-int8-v1": ("c64926ce77ddbb5260303d95d4d6bf13dd56f552500e79c2e0bbafe8eddfb843",
                             "71cf00efb607e988427813e95432bfae6663a3aaefebb61aafefcdb2b8153e6c"),
    # Its network at h = 64, the RGB default until int8-v3: coder 4 from the start.
    "logistic-rgb-int8-v2": ("23e7004e57630ecd283d23f0552a28db10f2c6192d7fa5528b3adb109d43bad0",
                             "d1d36e030744fa7bddcfe1531d68d385188411592a96caaff023a6689ea72a7b"),
    # int8-v2's network trained on (a second cosine), the RGB default until int8-v4.
    "logistic-rgb-int8-v3": ("f7e92049af65f6576f5988a870e8787e3c0e2b7874f585858c52d02b6159fe7c",
                             "2be9afb11d893c032f6c2d8388e8965d490426ef36531a029c8d75413d34a4b4"),
    # Its network wider again (h = 80), the RGB default until int8-v5.
    "logistic-rgb-int8-v4": ("9d8fa9ae20e20574d419b659d25b995129dd56ddf78db854f6fbb1b8a3363582",
                             "5512ffbbd7c2fbd6731d5126b27a04bb037e128250fdb14be0a78189875d8ebd"),
    # int8-v4's network trained on (a second cosine), the RGB default since 2026-12-07 (evening).
    "logistic-rgb-int8-v5": ("34b616e73af8ef17ad90784bf82f2f101485332e6be30fa39c27abfb9a060eff",
                             "c7fa29fc390cac8f59d5565e32c4bf649e6d63e0cbf6dccdacf23b7a5c333715"),
}
# The same patterns as format version 2 wrote them (until 2026-12-02), in assets/v2/: they
# must decode for ever.
WRITTEN_AS_V2 = {
    "pixelcnn-rgb-v1": "82b5c2d06362482073fb348141dbdb796648bd51fc407bb073932fe422b62b4c",
    "pixelcnn-gray-v1": "8f2366f1d890f5c2903c4bbd1d1e01d0052170e13d8c156661d9e3847e4202ca",
    "pixelcnn-binary-v1": "57a773b1b7028a4556018a0a23b5d6445e701412416f53d2062085153860da9d",
    "row-lstm-binary-v1": "2e2a5bf7637acb561858454cbb69abcc259d97c57f29a701e36d8a23eeddc11c",
    "diag-bilstm-binary-v1": "a3d87930eee4b10d6ad61fc3366947a056cab94dcd4070461469580ac256afe4",
    "row-lstm-rgb-v1": "11a2d74db0878bf5acade099160cef4ebc06dcd2e0829dba72501a6db592327b",
    "diag-bilstm-rgb-v1": "abf4a8c060a8911faaa6a4f0708d9f421aa708116037725bac42cb4546c3288d",
    "logistic-rgb-v1": "453c2360becd0885a86415cf5eb1fa1b25609ac5af79d20cbb907a2afae00676",
    "logistic-rgb-v2": "d6d4b103518ddbff991ac2efa44ba5c9d9623255d1a9e969b8f23e5c8ea6d5e6",
}
# A 40 x 56 crop (assets/crop-40x56.png) in 12 tiles of 16: version 2's one interleaved stream,
# and version 3's twelve streams, decoded in one round and in three. The version 3 files are
# pinned as the encoder writes them (effort 0), those with the coder it writes today checked
# against its bytes, and all must decode for ever. The integer models' files: int8-v1's with
# coder 3 (written until the online stage, 2026-12-06) and coder 4, int8-v2's to int8-v5's
# with coder 4.
TILED_ORIGINAL = "crop-40x56.png"
TILED = {
    "v2/pixelcnn-rgb-v1-12-tiles.pxc":
        "dcede16c0121f54442928c2dbbca3826c44aa8625986e1d09c4aeccbae945469",
    "v3/pixelcnn-rgb-v1-12-tiles.pxc":
        "92176fc8081db3402a489ee4b8451590fa806ca54903ba4464c638d8dcbfcd07",
    "v3/logistic-rgb-v2-12-tiles.pxc":
        "389cdf605ef65af075de019a6e1144576bb105d6130c5a68ca991ec615cdfea3",
    "v3/row-lstm-rgb-v1-12-tiles.pxc":
        "1da5bf5f39f55edafff73235211743cd516a3d06ff4d24ec0476240bb1b731fa",
    "v3/logistic-rgb-v3-12-tiles.pxc":
        "af8bafc6c144db98ffe72183164443b4ec6c5baa1aebb6fb40d45012296383a4",
    "v3/logistic-rgb-v4-12-tiles.pxc":
        "fc86b09bc6e8f3baadc25a605c605b06656eb36b2b7f22860fd32ac3b2c1e903",
    "v3/logistic-rgb-v5-12-tiles.pxc":
        "19f345401da5aafeda64990d1d563471caa0d37ad02121a5f46bb3b47f608b31",
    "v3/logistic-rgb-v6-12-tiles.pxc":
        "eaea60233d65c143311d5deae937192592ef031698f663ad1276c301e7fa8568",
    "v3/logistic-rgb-v7-12-tiles.pxc":
        "70f32f6466b8340223ada2a69614097e7b28ca3005b6db40563f6f09c2884cd6",
    "v3/logistic-rgb-int8-v1-12-tiles.pxc":
        "d743582dcbaa5eb89268dd7c5ef7f0ed3d461cdcd4208846a7d39d2460a87b7c",
    "v3/logistic-rgb-int8-v1-coder-4-12-tiles.pxc":
        "149f527707f0d6e7a178c0f90574d4bb9f126e656715a810f38dcd41487248df",
    "v3/logistic-rgb-int8-v2-12-tiles.pxc":
        "df592b5661b7049379a6108fea83d9b1e6c9bbc183b8b2729983ab11da4024f8",
    "v3/logistic-rgb-int8-v3-12-tiles.pxc":
        "fdc9a8337203cc1a491a7253f5061eaf94597abd0bfbf0cf28d33750d6711605",
    "v3/logistic-rgb-int8-v4-12-tiles.pxc":
        "246592450b3ea5ce91baad87b8571c6b23bda657b517dc037e6ad2a585de7be4",
    "v3/logistic-rgb-int8-v5-12-tiles.pxc":
        "f62d5531c8d2d3bfcde758eb974d60a28925e70d14f4d3cca9e695fd831240ab",
}
# Files whose model was adapted to their image (an ADPT section: the fit runs in float32, so the
# encoder's bytes may differ between machines; the decoder's result may not). The v1 file was
# written by the encoder of 2026-12-01 (whose fit then paid on this crop); the v2, v3 and v4 files
# with the level-2 fit forced in, since none pays on this crop any more; all of them store the
# values as int16. The "-zigzag" ones store them as zigzag planes (written since 2026-12-03;
# v5's with its level-2 fit forced in too).
ADAPTED = {
    "adapted-rgb.pxc": ("logistic-rgb-v1",
                        "570c4f445990b811b81e75666ea6453ba40cc0e5f52492ef023c893fa4cf6c29"),
    "adapted-rgb-v2.pxc": ("logistic-rgb-v2",
                           "7a24322029ef956ba12443a6eb0a5c847fbd8105d6b45b220d1a261be161eaf9"),
    "adapted-rgb-v3.pxc": ("logistic-rgb-v3",
                           "0f98645cb0c75a7ad4ed96d23f45467f607077140a12643591346879d0c9e069"),
    "adapted-rgb-v4.pxc": ("logistic-rgb-v4",
                           "af7af5a28b7ba35cfa154bd967503bdaa43e044e3858b2e6193378a175588067"),
    "adapted-rgb-v4-zigzag.pxc": (
        "logistic-rgb-v4", "2f871669e7869ac5dbfb2f4220fe22db16ab363e6352e74005be9fb9c633bb7a"),
    "adapted-rgb-v5-zigzag.pxc": (
        "logistic-rgb-v5", "a977cf6a04f61a6b3436466b8f2f70c15d1a5dfc49baec125881e093b23ceb38"),
}
ADAPTED_ORIGINAL = "kodim23-crop.png"
# Files of the same patterns written with coder 1 (the payload as whole words) before coder 2
# existed: they must decode for ever.
WRITTEN_WITH_CODER_1 = {
    "pixelcnn-rgb-v1": ("coder1-rgb.pxc",
                        "f433f7a21d86b6b10b9dbc5c697d9066bcc162a3f91c6e054d3f079208d4d332"),
    "pixelcnn-gray-v1": ("coder1-gray.pxc",
                         "dc3c07f59010eb7f547cb86b1a42ae0fe554271b605dba0f175d07f46d66ae89"),
}


@pytest.mark.parametrize("model", sorted(GOLDEN))
def test_shipped_models_produce_the_pinned_bytes(model, tmp_path):
    data = pixcodec.compress(source(model, tmp_path), model=model)
    payload = model_plane(data).payload
    assert (hashlib.sha256(data).hexdigest(), hashlib.sha256(payload).hexdigest()) == GOLDEN[model]
    info = zoo.model_info(model)
    expected = pattern(info.colours, info.levels)  # 1-bit samples come back as 0/1
    assert np.array_equal(pixcodec.decompress(data), expected // 255 if info.levels == 2 else expected)


@pytest.mark.parametrize("model", sorted(WRITTEN_AS_V2))
def test_files_written_as_version_2_still_decode(model):
    data = (ASSETS / "v2" / f"{model}.pxc").read_bytes()
    assert hashlib.sha256(data).hexdigest() == WRITTEN_AS_V2[model]
    assert data[4] == 2 and model_plane(data).model == model
    info = zoo.model_info(model)
    expected = pattern(info.colours, info.levels)
    assert np.array_equal(pixcodec.decompress(data),
                          expected // 255 if info.levels == 2 else expected)


@pytest.mark.parametrize("name", sorted(TILED))
def test_files_of_many_tiles_decode_and_version_3_ones_encode_the_same(name, monkeypatch):
    data = (ASSETS / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == TILED[name]
    original = np.array(Image.open(ASSETS / TILED_ORIGINAL))
    plane = model_plane(data)
    assert plane.tile == 16 and len(plane.streams) == (1 if data[4] == 2 else 12)
    assert np.array_equal(pixcodec.decompress(data), original)
    if data[4] == 3:
        from pixcodec import codec
        monkeypatch.setattr(codec, "ROUND_PIXELS", 5 * 16 * 16)  # rounds of 5, 5 and 2 tiles
        assert np.array_equal(pixcodec.decompress(data), original)
        model = zoo.model_by_id(plane.model_id)
        assert Path(name).name.startswith(f"{model}-")
        if plane.coder == zoo.model(model).net.coders[0]:  # the coder written today
            assert pixcodec.encode(original, model, tile=16, effort=0).data == data


# The pattern as the integer model's encoder wrote it with coder 3, before the online stage
# (2026-12-06): GOLDEN's pins of the time.
WRITTEN_WITH_CODER_3 = {
    "logistic-rgb-int8-v1": ("v3/logistic-rgb-int8-v1-coder-3.pxc",
                             "e24d0ef2a7815d041f9a08fb1cf197c120218c34414eb872524cf60a84a89980",
                             "f9e555f1ff098c47ae1d7f935a181c028a7ed6cfd2252b8ab0de99ac3608ff40"),
}


@pytest.mark.parametrize("model", sorted(WRITTEN_WITH_CODER_3))
def test_files_written_with_coder_3_still_decode(model):
    name, sha256, payload_sha256 = WRITTEN_WITH_CODER_3[model]
    data = (ASSETS / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    assert hashlib.sha256(model_plane(data).payload).hexdigest() == payload_sha256
    assert model_plane(data).coder == 3
    assert np.array_equal(pixcodec.decompress(data), pattern(zoo.model_info(model).colours))


@pytest.mark.parametrize("model", sorted(WRITTEN_WITH_CODER_1))
def test_files_written_with_coder_1_still_decode(model):
    name, sha256 = WRITTEN_WITH_CODER_1[model]
    data = (Path(__file__).parent / "assets" / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    assert model_plane(data).coder == 1
    assert np.array_equal(pixcodec.decompress(data), pattern(zoo.model_info(model).colours))


@pytest.mark.parametrize("name", sorted(ADAPTED))
def test_a_file_with_an_adapted_model_still_decodes(name):
    model, sha256 = ADAPTED[name]
    assets = Path(__file__).parent / "assets"
    data = (assets / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    assert container.ADAPT in container.unpack(data)[1] and model_plane(data).model == model
    layout = container.unpack(data)[1][container.ADAPT][0] & ZIGZAG_PLANES
    assert bool(layout) == name.endswith("-zigzag.pxc")
    expected = np.array(Image.open(assets / ADAPTED_ORIGINAL).convert("RGB"))
    assert np.array_equal(pixcodec.decompress(data), expected)


# Files coded turned. The demo crop as the encoder of 2026-12-03 wrote it at the default effort
# with v5 (it picked orientation 7, transposed and turned a half turn, and an adaptation), and
# with v6 and v7 on 2026-12-04 (the same choices); and the 40 x 56
# crop forced into orientation 5 (transposed, then mirrored left-right: 56 x 40, 12 tiles of 16)
# at effort 0, which pins the tiles of a transposed plane (no float fit: the same bytes anywhere).
TURNED = {"turned-rgb-v5.pxc": ("logistic-rgb-v5", 7, ADAPTED_ORIGINAL, None,
                                "a38465172ca068e952d277202df9edb23eaadb9f72400122d44ac779e23ff77b"),
          "turned-rgb-v6.pxc": ("logistic-rgb-v6", 7, ADAPTED_ORIGINAL, None,
                                "71501f7635bee16ad670fd0e2b6a9b585210dd8cbd4acffc331d05375ac12bfa"),
          "turned-rgb-v7.pxc": ("logistic-rgb-v7", 7, ADAPTED_ORIGINAL, None,
                                "fa3ce5e6cae06ecc70dde94e99a8f098dc83492a73bc5b342521c03a157fb777"),
          "turned-rgb-v5-12-tiles.pxc": (
              "logistic-rgb-v5", 5, TILED_ORIGINAL, 16,
              "74fd13ab9a7d0e981780e8daedfe35f1046fae9279c1b0ecbe63256aa60e3b0f")}


@pytest.mark.parametrize("name", sorted(TURNED))
def test_a_file_coded_turned_still_decodes(name, monkeypatch):
    model, turn, original, tile, sha256 = TURNED[name]
    data = (ASSETS / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    plane = model_plane(data)
    assert (plane.model, plane.orientation) == (model, turn)
    expected = np.array(Image.open(ASSETS / original).convert("RGB"))
    assert np.array_equal(pixcodec.decompress(data), expected)
    if tile is not None:
        assert len(plane.streams) == 12
        monkeypatch.setattr(adapt, "choose_orientation",
                            lambda net, values, effort, workers=1: turn)
        assert pixcodec.encode(expected, model, tile=tile, effort=0).data == data
