/* SPDX-License-Identifier: MIT */
/* nipc__js_number against Number.prototype.toString, and reals inside frames (W6, W6b). */
#include "core/core.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sample {
    uint64_t bits; /* the double's IEEE 754 bits, so the input is exact */
    const char *js;
} sample_t;

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static void expect_number(double d, const char *want)
{
    char out[64];
    memset(out, 'Z', sizeof out);
    size_t n = nipc__js_number(out, sizeof out, d);
    cr_expect_str_eq(out, want, "%.17g: got %s, JavaScript writes %s", d, out, want);
    cr_expect_eq(n, strlen(want), "%s: returned length %zu", want, n);
}

static void expect_samples(const sample_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect_number(from_bits(s[i].bits), s[i].js);
}

Test(number, w6_zero_and_negative_zero, .timeout = 10)
{
    expect_number(0.0, "0");
    expect_number(-0.0, "0");
}

Test(number, w6_non_finite_is_null, .timeout = 10)
{
    expect_number(NAN, "null");
    expect_number(-NAN, "null");
    expect_number(INFINITY, "null");
    expect_number(-INFINITY, "null");
}

Test(number, w6b_integral_values_have_no_fraction, .timeout = 10)
{
    expect_number(1, "1");
    expect_number(-1, "-1");
    expect_number(100, "100");
    expect_number(1e20, "100000000000000000000");
    expect_number(123456789012345680000.0, "123456789012345680000");
    expect_number(9007199254740992.0, "9007199254740992"); /* 2^53 */
    expect_number(-9007199254740991.0, "-9007199254740991");
}

Test(number, w6b_exponent_from_1e21, .timeout = 10)
{
    expect_number(1e21, "1e+21");
    expect_number(-1e21, "-1e+21");
    expect_number(1.5e300, "1.5e+300");
    expect_number(1.7976931348623157e308, "1.7976931348623157e+308");
}

Test(number, w6b_exponent_below_1e_minus_6, .timeout = 10)
{
    expect_number(0.000001, "0.000001");
    expect_number(1e-6 * 3, "0.000003");
    expect_number(1e-7, "1e-7");
    expect_number(1.5e-7, "1.5e-7");
    expect_number(-1.5e-7, "-1.5e-7");
    expect_number(5e-324, "5e-324");
}

Test(number, w6b_shortest_round_trip_digits, .timeout = 10)
{
    expect_number(0.1, "0.1");
    expect_number(0.1 + 0.2, "0.30000000000000004");
    expect_number(-1.5, "-1.5");
    expect_number(3.14159, "3.14159");
    expect_number(1.0 / 3.0, "0.3333333333333333");
    expect_number(255.0 / 256.0, "0.99609375");
}

/* Values and Number.prototype.toString results generated with Node 20 (String(x)). */
static const sample_t node_samples[] = {
    {0x300fc1b13d99a400ULL, "3.42819303724566e-77"},
    {0x8009d83921b94400ULL, "-1.369063157964853e-308"},
    {0x000fa66145956400ULL, "2.176389485856395e-308"},
    {0x8007c8a967b80400ULL, "-1.0824754746129975e-308"},
    {0x000ce59117b32400ULL, "1.793513160968108e-308"},
    {0x88091a7fc9fafa00ULL, "-5.939753046282488e-270"},
    {0x4005424abbb31240ULL, "2.65736910476906"},
    {0xa00fc38063449c00ULL, "-2.9613041480944555e-154"},
    {0x0008ec270b4e3700ULL, "1.240822278508438e-308"},
    {0xe80b9cb2fc6c3200ULL, "-1.5747324306803185e+193"},
    {0x400c4a48e4734500ULL, "3.5362718436887235"},
    {0xa00cdf7b1a67b400ULL, "-2.6918058031731824e-154"},
    {0x000f615d532a9400ULL, "2.1388981768097743e-308"},
    {0x80040cd50172f440ULL, "-5.63239232811276e-309"},
    {0x6f086a9dc9886e00ULL, "7.230188683673234e+226"},
    {0xc001756f8fe61640ULL, "-2.182341694077678"},
    {0x3008e2774abadc00ULL, "2.686348535773849e-77"},
    {0x800d6c372755dc00ULL, "-1.8666584854870564e-308"},
    {0x000bd0f776807700ULL, "1.6432554248283973e-308"},
    {0xe003bedbd6e07300ULL, "-3.3093054296675725e+154"},
    {0x68036159ce07d400ULL, "1.1052670121248142e+193"},
    {0x800b5ca53ae13400ULL, "-1.580066139954567e-308"},
    {0x000d96bd13121400ULL, "1.8897583636918883e-308"},
    {0x880eae9bac5aaa00ULL, "-7.259696314538853e-270"},
    {0x40078a16a02e1d80ULL, "2.9424259676049473"},
    {0xf006976ee4946200ULL, "-4.384221015791131e+231"},
    {0x400da1349a899a00ULL, "3.7037136147730507"},
    {0xc80f5719251d3100ULL, "-1.3330658462957225e+39"},
    {0x200e49ee4647f500ULL, "2.823801641284166e-154"},
    {0xa801cb6e0faebec0ULL, "-5.645222753017105e-116"},
    {0x0000ccfe02b0c838ULL, "1.113581174204107e-309"},
    {0x820a1e65d1c77b00ULL, "-7.800214677912214e-299"},
    {0x680045eb82194600ULL, "9.280645706753685e+192"},
    {0xc70ba3dfbf7cd600ULL, "-1.7939471886078814e+34"},
    {0x400f6919bba73900ULL, "3.9263186130912118"},
    {0xa00025406bbf9d00ULL, "-1.5052343305457425e-154"},
    {0x200faf813a6e5100ULL, "2.9540218078622897e-154"},
    {0xa0012b760c239540ULL, "-1.600724937697127e-154"},
    {0x0004806f5a053c00ULL, "6.26038310421577e-309"},
    {0x800e3c8f756bbc00ULL, "-1.9798379002478653e-308"},
    {0x0007bf2f1ae43c40ULL, "1.0773268759993636e-308"},
    {0xf00528dcc253ba40ULL, "-4.1063363216094095e+231"},
    {0x200b00ba17cf0000ULL, "2.5174547262835087e-154"},
    {0x800a26e875035000ULL, "-1.4118072095706595e-308"},
    {0x0002cc1c65bfe000ULL, "3.890135997893066e-309"},
    {0x8005c9e046654b80ULL, "-8.05000906773647e-309"},
    {0x400df4b3d5198100ULL, "3.744483628121202"},
    {0xa00ff1227e6c8400ULL, "-2.9779227103322514e-154"},
    {0x000627b17351a440ULL, "8.55965252055976e-309"},
    {0xe005baf8f399d740ULL, "-3.641956365128775e+154"},
    {0x400a4db394ad8100ULL, "3.28794017939083"},
    {0xa803430919238440ULL, "-6.110684276289976e-116"},
    {0x700f79fe445e0600ULL, "6.1084864640143186e+231"},
    {0xc00138458e1e2980ULL, "-2.1524764159159417"},
    {0x7808a7903b2fdd00ULL, "1.6281076312427045e+270"},
    {0xa006921113cb9100ULL, "-2.104237806548315e-154"},
    {0x20011b467611d500ULL, "1.5948304144978474e-154"},
    {0xa00809bf3fafe900ULL, "-2.2410518744341592e-154"},
    {0x0002edb14489a440ULL, "4.072561223096873e-309"},
    {0xe005b8f88031d740ULL, "-3.640645856023877e+154"},
    {0x4000e3b39a91e600ULL, "2.1111824107908888"},
    {0xc8059ee45ecaed00ULL, "-9.196416868726762e+38"},
    {0x2803855c6740e000ULL, "6.192876676024219e-116"},
    {0x8003c4203106b000ULL, "-5.237429195226767e-309"},
    {0x000c14b430365b00ULL, "1.680052371206708e-308"},
    {0xe00b6f7c8beaa700ULL, "-4.598122955276386e+154"},
    {0x600a1a47f6346300ULL, "4.3747432387623716e+154"},
    {0xe004efceeff9ea80ULL, "-3.5089492621095214e+154"},
    {0x000147e61ec3e800ULL, "1.78124825699854e-309"},
    {0x880a0c98899e5700ULL, "-6.163513202247878e-270"},
    {0x600bbf13bb7fd300ULL, "4.650229160011366e+154"},
    {0xe000440aa2fc7f00ULL, "-2.726106899787346e+154"},
    {0x6002aaadd8721b40ULL, "3.128496646310145e+154"},
    {0xd0027e7a7226a500ULL, "-2.67683171047003e+77"},
    {0x200f84133266f900ULL, "2.9382056789105706e-154"},
    {0xa007aeb002525d40ULL, "-2.207890106738966e-154"},
    {0x000fe0716bf8a400ULL, "2.2079311494906774e-308"},
    {0x800495f93077df00ULL, "-6.377386507848573e-309"},
    {0x600e8145cb2cfb00ULL, "5.112559937267731e+154"},
    {0xe806ae4be403fcc0ULL, "-1.2935001343882914e+193"},
    {0x40075d99c27d9e00ULL, "2.9207034296593974"},
    {0xc000519b94810638ULL, "-2.0398475267291154"},
    {0x4006f287dfc69100ULL, "2.868423221823946"},
    {0xa0071806741c7080ULL, "-2.1530223838753947e-154"},
    {0x5002c2f146757600ULL, "2.715540744160552e+77"},
    {0xc0067781cd5cbe40ULL, "-2.8083530467918365"},
    {0x2009c763781ed400ULL, "2.403344161900843e-154"},
    {0x8005b86531243400ULL, "-7.95504799431497e-309"},
    {0x0001757d64711440ULL, "2.028912161275664e-309"},
    {0xe0018c34b5140700ULL, "-2.940948912525604e+154"},
    {0x600b885fd2f54300ULL, "4.614416455235175e+154"},
    {0xe805cbada17ee400ULL, "-1.2430151689664642e+193"},
    {0x07031253185d8c00ULL, "6.88558194686213e-275"},
    {0x880f37a9ebaf4c00ULL, "-7.3863713074385815e-270"},
    {0x000954b366690c00ULL, "1.2976161290298206e-308"},
    {0x800e40a314bdcc00ULL, "-1.982052462473274e-308"},
    {0x0809b639cabc8b00ULL, "6.083684814922547e-270"},
    {0xe80a4ecf9244cc00ULL, "-1.50035031556999e+193"},
    {0x0001e913581c8c00ULL, "2.656809693766e-309"},
    {0x8005a8834aa74c40ULL, "-7.86876976016311e-309"},
    {0x60000772a2899f00ULL, "2.686437492875269e+154"},
    {0xe0003335cab9bb38ULL, "-2.7150877341647623e+154"},
    {0x640e2e0a35c06e80ULL, "9.330490947177035e+173"},
    {0x980eeba3ec96a600ULL, "-8.4714719121384785e-193"},
    {0x400916ad83a74900ULL, "3.1360731397081736"},
    {0xa800f3cb469dec38ULL, "-5.378000427432967e-116"},
    {0x0006001d551d2f00ULL, "8.344649403319916e-309"},
    {0xe004fcb9aace8b00ULL, "-3.517405682650814e+154"},
    {0x600cc268fcc49700ULL, "4.8200088191025026e+154"},
    {0xe00b0b23fe1eae00ULL, "-4.532428681021833e+154"},
    {0x400a7d7fa6b4f100ULL, "3.3112786315888343"},
    {0xa00e795e2792b500ULL, "-2.8410771072853315e-154"},
    {0x200d30b7444e4900ULL, "2.7213897102218593e-154"},
    {0xa80b938b10b0ec00ULL, "-8.748393603074404e-116"},
    {0x080fb441dc496200ULL, "7.501528049903073e-270"},
    {0xc004707489829a40ULL, "-2.554909776971982"},
    {0x300d09002b543000ULL, "3.1344065712785352e-77"},
    {0x800e4714116e4000ULL, "-1.9855516060897825e-308"},
    {0x0806401e9fa35240ULL, "5.264692791491984e-270"},
    {0xa00d461026b57800ULL, "-2.72916386675692e-154"},
    {0x40666bb82fe01547ULL, "179.36623376623376"},
    {0x4153d62000000000ULL, "5200000"},
    {0x4056b45eee98862cULL, "90.81829419035847"},
    {0x42fc31bffcf00000ULL, "496000000000000"},
    {0x407329b663c86226ULL, "306.60702875399363"},
    {0x3dfa636641c4df1aULL, "3.84e-10"},
    {0x406a27e019852f0eULL, "209.24610591900313"},
    {0x42deec3dec200000ULL, "136000000000000"},
    {0x40e0c80000000000ULL, "34368"},
    {0x3e0aa9c4a7c996c2ULL, "7.76e-10"},
    {0x4050090d4b86ee2eULL, "64.1414364640884"},
    {0x3f76f0068db8bac6ULL, "0.005599999999999999"},
    {0x403bf2d90349bf2eULL, "27.94862385321101"},
    {0x4162c4b000000000ULL, "9840000"},
    {0x40a6a3d70a3d70a4ULL, "2897.92"},
    {0x414c138000000000ULL, "3680000"},
    {0x40748f5c28f5c28fULL, "328.96"},
    {0x3e026ab4b33c110aULL, "5.36e-10"},
    {0x406ad8ff4a75b7abULL, "214.78116343490305"},
    {0x43010d9316ec0000ULL, "600000000000000"},
    {0x40686d3a06d3a06dULL, "195.41333333333333"},
    {0x415e848000000000ULL, "8000000"},
    {0x40570d4629b7f0d4ULL, "92.2074074074074"},
    {0x42d5d3ef79800000ULL, "96000000000000"},
    {0x40b8000000000000ULL, "6144"},
    {0x3fb85f06f6944673ULL, "0.09519999999999999"},
    {0x405e9c77005e069cULL, "122.44476327116212"},
    {0x3c21b578c96db19bULL, "4.8e-19"},
    {0x40516c25729a4f6aULL, "69.68978562421185"},
    {0x3c52d0d056048cb5ULL, "4.080000000000001e-18"},
    {0x402844a94919bf7bULL, "12.134104046242774"},
    {0x3c509a213cd6d681ULL, "3.6e-18"},
    {0x400197e06767c3aeULL, "2.1991584852734922"},
    {0x415cafc000000000ULL, "7520000"},
    {0x405b872f363fed3cULL, "110.1122565864834"},
    {0x3e0876d177a3d980ULL, "7.12e-10"},
    {0x4073741314abba0aULL, "311.2546583850932"},
    {0x3fb0cb295e9e1b08ULL, "0.06559999999999999"},
    {0x4053bc4e704910ecULL, "78.94228751311647"},
    {0x3c5f5c05e4b23fd8ULL, "6.800000000000001e-18"},
    {0x4060b6bbe7dd859aULL, "133.7104377104377"},
    {0x3dec965971ea9c5cULL, "2.08e-10"},
    {0x40618cd2fe8c571cULL, "140.4007561436673"},
    {0x0000000000000000ULL, "0"},
    {0x40654fab054fab05ULL, "170.4896265560166"},
    {0x4305d3ef79800000ULL, "768000000000000"},
    {0x40614d8a536294d9ULL, "138.42313546423136"},
    {0x415a8ce000000000ULL, "6960000"},
    {0x4051296d69296d69ULL, "68.64730290456431"},
    {0x415cafc000000000ULL, "7520000"},
    {0x408523b88ee23b89ULL, "676.4651162790698"},
    {0x3de716f9798c4336ULL, "1.68e-10"},
    {0x403c3f8f01c3f8f0ULL, "28.248275862068965"},
    {0x3fb26e978d4fdf3bULL, "0.072"},
    {0x40720991f1a51588ULL, "288.5981308411215"},
    {0x4103880000000000ULL, "160000"},
    {0x40c18871c71c71c7ULL, "8976.888888888889"},
    {0x3c24a90ceafff9e0ULL, "5.600000000000001e-19"},
    {0x403f6a17b2d77defULL, "31.414424111948332"},
    {0x3fb82a9930be0dedULL, "0.0944"},
    {0x40750bd7ea229e85ULL, "336.7402135231317"},
    {0x3fb4af4f0d844d01ULL, "0.0808"},
    {0x405495d1f4511866ULL, "82.34093959731544"},
    {0x4158b82000000000ULL, "6480000"},
    {0x407b9637021d9eadULL, "441.3884297520661"},
    {0x3dfe3c8fd606ea4dULL, "4.4e-10"},
    {0x40461c8517c43e79ULL, "44.222811671087534"},
    {0x3f92d77318fc5048ULL, "0.0184"},
    {0x4052474538ef34d7ULL, "73.1136"},
    {0x3fb6f0068db8bac6ULL, "0.08959999999999999"},
    {0x4055bcad1e44748bULL, "86.94806629834254"},
    {0x3fb930be0ded288cULL, "0.09839999999999999"},
    {0x40554721dab8de25ULL, "85.111441307578"},
    {0x3c57fb1390c48b2dULL, "5.200000000000001e-18"},
    {0x40ade8f5c28f5c29ULL, "3828.48"},
    {0x4162c4b000000000ULL, "9840000"},
    {0x4047582192e29f7aULL, "46.68852459016394"},
    {0x42f0d35deda80000ULL, "296000000000000"},
    {0x406521f6e01038c7ULL, "169.06138613861387"},
    {0x430147c840300000ULL, "608000000000000"},
    {0x406eb6313487a592ULL, "245.6935064935065"},
    {0x41502ca000000000ULL, "4240000"},
    {0x4061dbbd47cbc8e2ULL, "142.8668555240793"},
    {0x42f7a598c3a00000ULL, "416000000000000"},
    {0x40278553f27c3b42ULL, "11.760406091370559"},
    {0x4156954000000000ULL, "5920000"},
    {0x4073c483b7c483b8ULL, "316.28215767634856"},
    {0x3c62725dd1d243acULL, "8e-18"},
    {0x40805b26c9b26c9bULL, "523.3939393939394"},
    {0x3c6127cd0322440eULL, "7.44e-18"},
    {0x4052952a54a952a5ULL, "74.33070866141732"},
    {0x41586a0000000000ULL, "6400000"},
    {0x405d130bf1cbb3d0ULL, "116.29760403530895"},
    {0x3de716f9798c4336ULL, "1.68e-10"},
    {0x405331ae5bc48260ULL, "76.77626699629172"},
    {0x43088e6d68b00000ULL, "864000000000000"},
    {0x4053cbeea4e1a08bULL, "79.1864406779661"},
    {0x3c4cc6e44752409cULL, "3.1200000000000003e-18"},
    {0x40522d0e56041893ULL, "72.704"},
    {0x3f913404ea4a8c15ULL, "0.0168"},
    {0x4059c99a7f4c8c32ULL, "103.15005476451259"},
    {0x4157318000000000ULL, "6080000"},
    {0x404f5b2bc85ec6d3ULL, "62.712273641851105"},
    {0x3e0fe2c63a23383fULL, "9.28e-10"},
    {0x40637ccfb71e1066ULL, "155.90035587188612"},
    {0x3fb19ce075f6fd22ULL, "0.0688"},
    {0x406795dd9ac77e48ULL, "188.68330134357007"},
    {0x3e0cdcb7d7ef5404ULL, "8.4e-10"},
    {0x405945eb145eb146ULL, "101.09247311827957"},
    {0x3c4a90352e248a68ULL, "2.88e-18"},
    {0x4081ac5701ac5702ULL, "565.5424836601308"},
    {0x4123880000000000ULL, "640000"},
    {0x4073c048d159e26bULL, "316.0177777777778"},
    {0x3fb78d4fdf3b645aULL, "0.092"},
    {0x4071717717717717ULL, "279.09157509157507"},
    {0x3fb72474538ef34dULL, "0.0904"},
    {0x4066685d506c0c47ULL, "179.26139088729016"},
    {0x430b832081240000ULL, "968000000000000"},
    {0x403487a5919eeb63ULL, "20.52987012987013"},
    {0x3faa9fbe76c8b439ULL, "0.052"},
    {0x0000000000000001ULL, "5e-324"},
    {0x8000000000000001ULL, "-5e-324"},
    {0x0010000000000000ULL, "2.2250738585072014e-308"},
    {0x000fffffffffffffULL, "2.225073858507201e-308"},
    {0x7fefffffffffffffULL, "1.7976931348623157e+308"},
    {0x3cb0000000000000ULL, "2.220446049250313e-16"},
    {0x433fffffffffffffULL, "9007199254740991"},
    {0x4340000000000001ULL, "9007199254740994"},
    {0x43f0000000000000ULL, "18446744073709552000"},
    {0x43e0000000000000ULL, "9223372036854776000"},
    {0x444b1ae4d6e2ef50ULL, "1e+21"},
    {0x444b1ae4d6e2ef4fULL, "999999999999999900000"},
    {0x3eb0c6f7a0b5ed8dULL, "0.000001"},
    {0x3eb0c6f7a0b5ed8dULL, "0.000001"},
    {0x3ee711947cfa26a3ULL, "0.000011000000000000001"},
    {0x3fe9999999999999ULL, "0.7999999999999999"},
    {0x3ff0147ae147ae14ULL, "1.005"},
    {0x4011666666666666ULL, "4.35"},
    {0x3f201f31f46ed246ULL, "0.000123"},
    {0x3c36b082c2148b8eULL, "1.23e-18"},
    {0x3fc2492492492492ULL, "0.14285714285714285"},
    {0x3fe5555555555555ULL, "0.6666666666666666"},
    {0x4040aaaaaaaaaaabULL, "33.333333333333336"},
    {0x7e444ecd0d33972bULL, "1.7e+300"},
};

Test(number, w6b_matches_node_on_samples, .timeout = 10)
{
    expect_samples(node_samples, sizeof node_samples / sizeof node_samples[0]);
}

/*
 * Powers of two have a rounding interval twice as wide above as below. JavaScript's
 * shortest form may then be a 16-digit number the correctly rounded %.15e misses (the
 * nearest 16-digit decimal lies below, outside the narrower half), e.g. 2^-24 is written
 * 5.960464477539063e-8, not 5.9604644775390625e-8. Every power of two in range whose form
 * differs from the %.{p}e search, from Node 20.
 */
static const sample_t power_of_two_samples[] = {
    {0x0060000000000000ULL, "7.120236347223045e-307"}, /* 2^-1017 */
    {0x0100000000000000ULL, "7.291122019556398e-304"}, /* 2^-1007 */
    {0x0420000000000000ULL, "8.209073602596753e-289"}, /* 2^-957 */
    {0x0660000000000000ULL, "5.641232424577593e-278"}, /* 2^-921 */
    {0x0d70000000000000ULL, "5.858190679279809e-244"}, /* 2^-808 */
    {0x0e80000000000000ULL, "7.678447687145631e-239"}, /* 2^-791 */
    {0x0eb0000000000000ULL, "6.142758149716505e-238"}, /* 2^-788 */
    {0x0f50000000000000ULL, "6.290184345309701e-235"}, /* 2^-778 */
    {0x13e0000000000000ULL, "5.940911144672375e-213"}, /* 2^-705 */
    {0x1480000000000000ULL, "6.083493012144512e-210"}, /* 2^-695 */
    {0x1690000000000000ULL, "5.225680706521042e-200"}, /* 2^-662 */
    {0x1730000000000000ULL, "5.351097043477547e-197"}, /* 2^-652 */
    {0x1da0000000000000ULL, "5.426657103235053e-166"}, /* 2^-549 */
    {0x2020000000000000ULL, "5.966672584960166e-154"}, /* 2^-509 */
    {0x20f0000000000000ULL, "4.887898181599368e-150"}, /* 2^-496 */
    {0x2160000000000000ULL, "6.256509672447191e-148"}, /* 2^-489 */
    {0x2800000000000000ULL, "5.075883674631299e-116"}, /* 2^-383 */
    {0x2910000000000000ULL, "6.653062250012736e-111"}, /* 2^-366 */
    {0x2d70000000000000ULL, "7.854549544476363e-90"},  /* 2^-296 */
    {0x3730000000000000ULL, "7.174648137343064e-43"},  /* 2^-140 */
    {0x39e0000000000000ULL, "6.310887241768095e-30"},  /* 2^-97 */
    {0x3b20000000000000ULL, "6.617444900424222e-24"},  /* 2^-77 */
    {0x3d30000000000000ULL, "5.684341886080802e-14"},  /* 2^-44 */
    {0x3e70000000000000ULL, "5.960464477539063e-8"},   /* 2^-24 */
    {0x4580000000000000ULL, "6.189700196426902e+26"},  /* 2^89 */
    {0x4790000000000000ULL, "5.316911983139664e+36"},  /* 2^122 */
    {0x4830000000000000ULL, "5.444517870735016e+39"},  /* 2^132 */
    {0x4ab0000000000000ULL, "5.986310706507379e+51"},  /* 2^172 */
    {0x4b50000000000000ULL, "6.129982163463556e+54"},  /* 2^182 */
    {0x5120000000000000ULL, "6.070840288205404e+82"},  /* 2^275 */
    {0x5300000000000000ULL, "6.518515124270356e+91"},  /* 2^305 */
    {0x5580000000000000ULL, "7.167183174968974e+103"}, /* 2^345 */
    {0x5790000000000000ULL, "6.156563468186638e+113"}, /* 2^378 */
    {0x58d0000000000000ULL, "6.455624695217272e+119"}, /* 2^398 */
    {0x5940000000000000ULL, "8.263199609878108e+121"}, /* 2^405 */
    {0x5e00000000000000ULL, "6.243497100631985e+144"}, /* 2^481 */
    {0x6150000000000000ULL, "5.623642243178996e+160"}, /* 2^534 */
    {0x61f0000000000000ULL, "5.758609657015292e+163"}, /* 2^544 */
    {0x6290000000000000ULL, "5.896816288783659e+166"}, /* 2^554 */
    {0x63d0000000000000ULL, "6.183260036827614e+172"}, /* 2^574 */
    {0x6510000000000000ULL, "6.483618076376552e+178"}, /* 2^594 */
    {0x6c50000000000000ULL, "5.386379163185535e+213"}, /* 2^710 */
    {0x7220000000000000ULL, "5.334411546303884e+241"}, /* 2^803 */
    {0x75e0000000000000ULL, "6.150157786156811e+259"}, /* 2^863 */
    {0x77f0000000000000ULL, "5.282945311356653e+269"}, /* 2^896 */
    {0x7cf0000000000000ULL, "6.386688990511104e+293"}, /* 2^976 */
};

Test(number, w6b_shortest_at_power_of_two_boundaries, .timeout = 10)
{
    expect_samples(power_of_two_samples,
                   sizeof power_of_two_samples / sizeof power_of_two_samples[0]);
}

Test(number, w6b_every_power_of_two_reads_back, .timeout = 10)
{
    /* Whatever digits are chosen, they must name the same double; so must its neighbours'. */
    for (int e = -1074; e <= 1023; e++) {
        double d = ldexp(1.0, e);
        char out[64];
        nipc__js_number(out, sizeof out, d);
        cr_assert_eq(strtod(out, NULL), d, "2^%d written as %s", e, out);

        uint64_t b;
        memcpy(&b, &d, sizeof b);
        const double near[] = {from_bits(b - 1), from_bits(b + 1), -d};
        for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
            nipc__js_number(out, sizeof out, near[i]);
            cr_assert_eq(strtod(out, NULL), near[i], "near 2^%d: %a written as %s", e, near[i],
                         out);
        }
    }
}

/* Edge cases, each with its negative, and what Node 20 writes for them (String(x)). */
static const sample_t edge_samples[] = {
    /* Subnormals: the smallest, the largest, the normals around them. */
    {0x0000000000000001ULL, "5e-324"},
    {0x8000000000000001ULL, "-5e-324"},
    {0x0000000000000002ULL, "1e-323"},
    {0x8000000000000002ULL, "-1e-323"},
    {0x0000000000000003ULL, "1.5e-323"},
    {0x8000000000000003ULL, "-1.5e-323"},
    {0x000fffffffffffffULL, "2.225073858507201e-308"},
    {0x800fffffffffffffULL, "-2.225073858507201e-308"},
    {0x000ffffffffffffeULL, "2.2250738585072004e-308"},
    {0x800ffffffffffffeULL, "-2.2250738585072004e-308"},
    {0x0010000000000000ULL, "2.2250738585072014e-308"},
    {0x8010000000000000ULL, "-2.2250738585072014e-308"},
    {0x0010000000000001ULL, "2.225073858507202e-308"},
    {0x8010000000000001ULL, "-2.225073858507202e-308"},
    {0x0000000000001000ULL, "2.0237e-320"},
    {0x8000000000001000ULL, "-2.0237e-320"},
    {0x0008000000000000ULL, "1.1125369292536007e-308"},
    {0x8008000000000000ULL, "-1.1125369292536007e-308"},
    /* DBL_MAX, the double below it, the largest power of two, DBL_MIN. */
    {0x7fefffffffffffffULL, "1.7976931348623157e+308"},
    {0xffefffffffffffffULL, "-1.7976931348623157e+308"},
    {0x7feffffffffffffeULL, "1.7976931348623155e+308"},
    {0xffeffffffffffffeULL, "-1.7976931348623155e+308"},
    {0x7fe0000000000000ULL, "8.98846567431158e+307"},
    {0xffe0000000000000ULL, "-8.98846567431158e+307"},
    /* 1e21, where the layout turns to exponents, and the doubles around it. */
    {0x444b1ae4d6e2ef50ULL, "1e+21"},
    {0xc44b1ae4d6e2ef50ULL, "-1e+21"},
    {0x444b1ae4d6e2ef4fULL, "999999999999999900000"},
    {0xc44b1ae4d6e2ef4fULL, "-999999999999999900000"},
    {0x444b1ae4d6e2ef51ULL, "1.0000000000000001e+21"},
    {0xc44b1ae4d6e2ef51ULL, "-1.0000000000000001e+21"},
    {0x444b1ae4d6e2ef4eULL, "999999999999999700000"},
    {0xc44b1ae4d6e2ef4eULL, "-999999999999999700000"},
    {0x4454542ba12a337cULL, "1.5e+21"},
    {0xc454542ba12a337cULL, "-1.5e+21"},
    /* 1e-6 and 1e-7, where the layout turns to exponents below 1, and around them. */
    {0x3eb0c6f7a0b5ed8dULL, "0.000001"},
    {0xbeb0c6f7a0b5ed8dULL, "-0.000001"},
    {0x3eb0c6f7a0b5ed8cULL, "9.999999999999997e-7"},
    {0xbeb0c6f7a0b5ed8cULL, "-9.999999999999997e-7"},
    {0x3eb0c6f7a0b5ed8eULL, "0.0000010000000000000002"},
    {0xbeb0c6f7a0b5ed8eULL, "-0.0000010000000000000002"},
    {0x3e7ad7f29abcaf48ULL, "1e-7"},
    {0xbe7ad7f29abcaf48ULL, "-1e-7"},
    {0x3e7ad7f29abcaf47ULL, "9.999999999999998e-8"},
    {0xbe7ad7f29abcaf47ULL, "-9.999999999999998e-8"},
    {0x3e7ad7f29abcaf49ULL, "1.0000000000000001e-7"},
    {0xbe7ad7f29abcaf49ULL, "-1.0000000000000001e-7"},
    {0x3eb92a737110e454ULL, "0.0000015"},
    {0xbeb92a737110e454ULL, "-0.0000015"},
    {0x3eb4b66dc015e19bULL, "0.00000123456789"},
    {0xbeb4b66dc015e19bULL, "-0.00000123456789"},
    /* Values that need 17 significant digits. */
    {0x3fd3333333333334ULL, "0.30000000000000004"},
    {0xbfd3333333333334ULL, "-0.30000000000000004"},
    {0x3ff0000000000001ULL, "1.0000000000000002"},
    {0xbff0000000000001ULL, "-1.0000000000000002"},
    {0x3fefffffffffffffULL, "0.9999999999999999"},
    {0xbfefffffffffffffULL, "-0.9999999999999999"},
    {0x018c92d503f699ccULL, "3.3333333333333334e-301"},
    {0x818c92d503f699ccULL, "-3.3333333333333334e-301"},
    {0x419d6f34547e6b75ULL, "123456789.12345679"},
    {0xc19d6f34547e6b75ULL, "-123456789.12345679"},
    {0x3ea0c6f7a0b5ed8eULL, "5.000000000000001e-7"},
    {0xbea0c6f7a0b5ed8eULL, "-5.000000000000001e-7"},
    {0x4000000000000001ULL, "2.0000000000000004"},
    {0xc000000000000001ULL, "-2.0000000000000004"},
    {0x001fffffffffffffULL, "4.4501477170144023e-308"},
    {0x801fffffffffffffULL, "-4.4501477170144023e-308"},
    /* Integers near 2^53 and beyond, where doubles stop being consecutive integers. */
    {0x433fffffffffffffULL, "9007199254740991"},
    {0xc33fffffffffffffULL, "-9007199254740991"},
    {0x4340000000000000ULL, "9007199254740992"},
    {0xc340000000000000ULL, "-9007199254740992"},
    {0x4340000000000001ULL, "9007199254740994"},
    {0xc340000000000001ULL, "-9007199254740994"},
    {0x4340000000000002ULL, "9007199254740996"},
    {0xc340000000000002ULL, "-9007199254740996"},
    {0x4350000000000002ULL, "18014398509481990"},
    {0xc350000000000002ULL, "-18014398509481990"},
    {0x4350000000000001ULL, "18014398509481988"},
    {0xc350000000000001ULL, "-18014398509481988"},
    {0x43e0000000000000ULL, "9223372036854776000"},
    {0xc3e0000000000000ULL, "-9223372036854776000"},
    {0x43f0000000000000ULL, "18446744073709552000"},
    {0xc3f0000000000000ULL, "-18446744073709552000"},
    {0x43efffffffffffffULL, "18446744073709550000"},
    {0xc3efffffffffffffULL, "-18446744073709550000"},
    {0x4440000000000000ULL, "590295810358705700000"},
    {0xc440000000000000ULL, "-590295810358705700000"},
    {0x4450000000000000ULL, "1.1805916207174113e+21"},
    {0xc450000000000000ULL, "-1.1805916207174113e+21"},
    {0x4450000000000001ULL, "1.1805916207174116e+21"},
    {0xc450000000000001ULL, "-1.1805916207174116e+21"},
    {0x4376345785d8a001ULL, "100000000000000020"},
    {0xc376345785d8a001ULL, "-100000000000000020"},
    {0x437b69b4ba630f35ULL, "123456789012345680"},
    {0xc37b69b4ba630f35ULL, "-123456789012345680"},
    {0x4378000000000001ULL, "108086391056891920"},
    {0xc378000000000001ULL, "-108086391056891920"},
    /* Powers of two, whose interval is narrower below, across the exponent range. */
    {0x0020000000000000ULL, "4.450147717014403e-308"},
    {0x8020000000000000ULL, "-4.450147717014403e-308"},
    {0x39b0000000000000ULL, "7.888609052210118e-31"},
    {0xb9b0000000000000ULL, "-7.888609052210118e-31"},
    {0x3fe0000000000000ULL, "0.5"},
    {0xbfe0000000000000ULL, "-0.5"},
    {0x3ff0000000000000ULL, "1"},
    {0xbff0000000000000ULL, "-1"},
    {0x4000000000000000ULL, "2"},
    {0xc000000000000000ULL, "-2"},
    {0x4330000000000000ULL, "4503599627370496"},
    {0xc330000000000000ULL, "-4503599627370496"},
    {0x4580000000000000ULL, "6.189700196426902e+26"},
    {0xc580000000000000ULL, "-6.189700196426902e+26"},
    {0x4630000000000000ULL, "1.2676506002282294e+30"},
    {0xc630000000000000ULL, "-1.2676506002282294e+30"},
    {0x7e70000000000000ULL, "1.0715086071862673e+301"},
    {0xfe70000000000000ULL, "-1.0715086071862673e+301"},
    /* Ends of the rounding interval on a round number (in for an even significand, out for
     * an odd one), and halfway ties (to the even digit). */
    {0x43efffffffffffcaULL, "18446744073709440000"},
    {0xc3efffffffffffcaULL, "-18446744073709440000"},
    {0x43efffffffffffcbULL, "18446744073709443000"},
    {0xc3efffffffffffcbULL, "-18446744073709443000"},
    {0x447017f7df96be17ULL, "4.749999999999999e+21"},
    {0xc47017f7df96be17ULL, "-4.749999999999999e+21"},
    {0x447017f7df96be18ULL, "4.75e+21"},
    {0xc47017f7df96be18ULL, "-4.75e+21"},
    {0x4310000000000001ULL, "1125899906842624.2"},
    {0xc310000000000001ULL, "-1125899906842624.2"},
    {0x4310000000000003ULL, "1125899906842624.8"},
    {0xc310000000000003ULL, "-1125899906842624.8"},
    {0x4320000000000001ULL, "2251799813685248.5"},
    {0xc320000000000001ULL, "-2251799813685248.5"},
};

Test(number, w6b_edge_cases_match_node, .timeout = 10)
{
    expect_samples(edge_samples, sizeof edge_samples / sizeof edge_samples[0]);
}

/* ---- random doubles, checked without Node: read back, no shorter, the closest ---------- */

/* The xorshift32 generator test/unit/number.js runs too. */
static uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* A random finite double: every bit pattern but the all-ones exponent equally likely. */
static uint64_t random_finite_bits(uint32_t *s)
{
    uint64_t b;
    do {
        uint64_t hi = xorshift32(s);
        uint64_t lo = xorshift32(s);
        b = hi << 32 | lo;
    } while ((b >> 52 & 0x7ff) == 0x7ff);
    return b;
}

/* The significant digits of a JavaScript number's text, without leading or trailing zeros. */
static size_t significant_digits(const char *js, char *digits)
{
    size_t n = 0;
    for (const char *p = js; *p != '\0' && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && (n > 0 || *p != '0'))
            digits[n++] = *p;
    while (n > 0 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    return n;
}

/* Whether the decimal <digits of m>e<exp> reads back as d. */
static bool reads_back(long long m, int exp, double d)
{
    char text[48];
    snprintf(text, sizeof text, "%llde%d", m, exp);
    return strtod(text, NULL) == d;
}

/*
 * The decimal printf writes with n significant digits is the closest one of that length; for
 * a double whose interval is symmetric (every one but the powers of two) it is JavaScript's
 * choice whenever the length is the shortest. glibc rounds exactly, so it is the oracle here.
 */
Test(number, w6b_random_doubles_are_shortest_and_closest, .timeout = 60)
{
    uint32_t seed = 0x9e3779b9;
    for (int i = 0; i < 100000; i++) {
        uint64_t b = random_finite_bits(&seed);
        double d = from_bits(b);
        if (d == 0)
            continue;
        char out[64], ours[32];
        nipc__js_number(out, sizeof out, d);
        cr_assert_eq(strtod(out, NULL), d, "%a written as %s, which reads back otherwise", d, out);
        size_t len = significant_digits(out, ours);
        cr_assert(len >= 1 && len <= 17, "%a written as %s", d, out);

        /* One digit fewer: none of the decimals around d reads back. */
        if (len > 1) {
            char e[40];
            snprintf(e, sizeof e, "%.*e", (int)len - 2, fabs(d));
            long long m = 0;
            int k = 0;
            for (const char *p = e; *p != 'e'; p++)
                if (*p >= '0' && *p <= '9') {
                    m = m * 10 + (*p - '0');
                    k++;
                }
            int exp = atoi(strchr(e, 'e') + 1) - (k - 1);
            for (long long c = m - 1; c <= m + 1; c++)
                cr_assert(c <= 0 || !reads_back(c, exp, fabs(d)),
                          "%a written as %s, but %llde%d is shorter and reads back", d, out, c,
                          exp);
        }

        /* The same length: the closest decimal, unless the interval is lopsided. */
        if ((b & ((1ULL << 52) - 1)) != 0) {
            char e[40], want[32];
            snprintf(e, sizeof e, "%.*e", (int)len - 1, fabs(d));
            significant_digits(e, want);
            cr_assert_str_eq(ours, want, "%a written as %s, the closest is %s", d, out, e);
        }
    }
}

/* ---- against Node itself ------------------------------------------------------------ */

/*
 * test/unit/number.js prints, for its seed-determined list, each double's bits and String(x).
 * The first two parts of the list are generated here too, to check that the script listed
 * what was asked; the edge cases come from the script only.
 */
#define NODE_SEED 20240601u
#define NODE_RANDOM 1000000
#define NODE_DECIMALS 200000
#define NODE_EDGES_AT_LEAST 10000

/* Decimal k of test/unit/number.js: 1 to 15 digits over 10^j, or <digits>e<exponent> text. */
static uint64_t decimal_bits(uint32_t *s)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const int k = 1 + (int)(xorshift32(s) % 15);
    const uint64_t hi = xorshift32(s) % 2097152;
    const uint64_t lo = xorshift32(s);
    const uint64_t r = hi * 4294967296u + lo;
    const uint64_t low = (uint64_t)p10[k - 1];
    const uint64_t m = low + r % (9 * low);
    double x;
    if (xorshift32(s) % 2 == 0) {
        x = (double)m / p10[xorshift32(s) % 23];
    } else {
        const int elo = -340, ehi = 308 - k;
        const int e = elo + (int)(xorshift32(s) % (uint32_t)(ehi - elo + 1));
        char text[48];
        snprintf(text, sizeof text, "%llue%d", (unsigned long long)m, e);
        x = strtod(text, NULL);
    }
    if (xorshift32(s) % 2 != 0)
        x = -x;
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

Test(number, w6b_matches_node_on_a_million_doubles, .timeout = 120)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' '%s/test/unit/number.js' %u %d %d", NIPC_NODE_EXECUTABLE,
             NIPC_SOURCE_DIR, NODE_SEED, NODE_RANDOM, NODE_DECIMALS);
    FILE *node = popen(cmd, "r");
    cr_assert_not_null(node, "popen %s", cmd);

    uint32_t seed = NODE_SEED;
    char line[128];
    long lines = 0, differ = 0, end = -1;
    while (fgets(line, sizeof line, node) != NULL) {
        if (strncmp(line, "end ", 4) == 0) {
            end = atol(line + 4);
            break;
        }
        char *js = line + 17;
        cr_assert(strlen(line) > 18 && line[16] == ' ', "line %ld: %s", lines + 1, line);
        js[strcspn(js, "\n")] = '\0';
        uint64_t b = strtoull(line, NULL, 16);
        if (lines < NODE_RANDOM) {
            uint64_t want = random_finite_bits(&seed);
            cr_assert_eq(b, want, "line %ld: node listed %016llx, not %016llx", lines + 1,
                         (unsigned long long)b, (unsigned long long)want);
        } else if (lines < NODE_RANDOM + NODE_DECIMALS) {
            uint64_t want = decimal_bits(&seed);
            cr_assert_eq(b, want, "line %ld: node listed %016llx, not %016llx", lines + 1,
                         (unsigned long long)b, (unsigned long long)want);
        }
        lines++;

        char out[64];
        size_t n = nipc__js_number(out, sizeof out, from_bits(b));
        if (strcmp(out, js) != 0 || n != strlen(js)) {
            if (differ < 20)
                cr_expect_fail("%016llx: JavaScript writes %s, nipc %s (length %zu)",
                               (unsigned long long)b, js, out, n);
            differ++;
        }
    }
    int status = pclose(node);
    cr_assert_eq(status, 0, "%s exited with status %d", cmd, status);
    cr_assert_eq(end, lines, "node said %ld lines, %ld read", end, lines);
    cr_assert_geq(lines, NODE_RANDOM + NODE_DECIMALS + NODE_EDGES_AT_LEAST);
    cr_assert_eq(differ, 0, "%ld of %ld doubles differ from JavaScript", differ, lines);
}

Test(number, returns_full_length_when_truncated, .timeout = 10)
{
    char out[4];
    size_t n = nipc__js_number(out, sizeof out, 0.30000000000000004);
    cr_assert_eq(n, strlen("0.30000000000000004"));
    cr_assert_str_eq(out, "0.3");
}

/* ---- reals inside frames use the same form ------------------------------------------ */

static void expect_real_in_frame(double d, const char *want)
{
    json_t *data = json_pack("{s:f, s:[f]}", "x", d, "a", d);
    cr_assert_not_null(data);
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__msg_encode(&b, "n", data, true, "\f", 1), 0);
    char want_frame[160];
    int wn = snprintf(want_frame, sizeof want_frame,
                      "{\"type\":\"n\",\"data\":{\"x\":%s,\"a\":[%s]}}\f", want, want);
    cr_assert_eq(b.len, (size_t)wn, "%.*s", (int)b.len, b.data);
    cr_assert_eq(memcmp(b.data, want_frame, b.len), 0, "%.*s", (int)b.len, b.data);
    nipc__buf_free(&b);
    json_decref(data);
}

Test(number, w6b_reals_in_frames_use_the_js_form, .timeout = 10)
{
    expect_real_in_frame(100.0, "100");
    expect_real_in_frame(0.1, "0.1");
    expect_real_in_frame(-0.0, "0");
    expect_real_in_frame(1e21, "1e+21");
    expect_real_in_frame(1.5e-7, "1.5e-7");
    expect_real_in_frame(2.5, "2.5");
    expect_real_in_frame(-1e-7, "-1e-7");
}

Test(number, w6b_real_data_at_top_level, .timeout = 10)
{
    json_t *d = json_real(100.0);
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__msg_encode(&b, "t", d, true, "\f", 1), 0);
    static const char want[] = "{\"type\":\"t\",\"data\":100}\f";
    cr_assert_eq(b.len, sizeof want - 1);
    cr_assert_eq(memcmp(b.data, want, b.len), 0, "%.*s", (int)b.len, b.data);
    nipc__buf_free(&b);
    json_decref(d);
}

Test(number, w6b_json_write_uses_the_js_form, .timeout = 10)
{
    json_t *v = json_pack("[f, f, i, f]", 1e21, 0.000001, 42, 1e-7);
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__json_write(&b, v), 0);
    static const char want[] = "[1e+21,0.000001,42,1e-7]";
    cr_assert_eq(b.len, sizeof want - 1, "%.*s", (int)b.len, b.data);
    cr_assert_eq(memcmp(b.data, want, b.len), 0, "%.*s", (int)b.len, b.data);
    nipc__buf_free(&b);
    json_decref(v);
}

/* ---- reading: nipc__decimal_to_double against glibc's correctly rounded strtod ----------- */

/* Whether w * 10^q reads as strtod reads "<w>e<q>", bit for bit, overflow included. */
static void expect_read(uint64_t w, int q, bool negative)
{
    char text[64];
    snprintf(text, sizeof text, "%s%llue%d", negative ? "-" : "", (unsigned long long)w, q);
    double want = strtod(text, NULL), got = 0;
    bool ok = nipc__decimal_to_double(w, q, negative, &got);
    if (isinf(want)) {
        cr_assert_not(ok, "%s: overflows, yet read as %.17g", text, got);
        return;
    }
    cr_assert(ok, "%s: refused, strtod reads %.17g", text, want);
    uint64_t a, b;
    memcpy(&a, &want, sizeof a);
    memcpy(&b, &got, sizeof b);
    cr_assert_eq(a, b, "%s: got %.17g (%016llx), strtod %.17g (%016llx)", text, got,
                 (unsigned long long)b, want, (unsigned long long)a);
}

static uint64_t random_significand(uint32_t *s)
{
    uint64_t w = (uint64_t)xorshift32(s) << 32 | xorshift32(s);
    unsigned digits = 1 + xorshift32(s) % 19;
    uint64_t cap = 1;
    for (unsigned i = 0; i < digits; i++)
        cap *= 10;
    return w % cap;
}

Test(number, read_random_decimals_as_strtod_does, .timeout = 60)
{
    uint32_t s = 0x2545f491u;
    for (int i = 0; i < 400000; i++) {
        uint64_t w = random_significand(&s);
        int q = (int)(xorshift32(&s) % 700) - 360; /* past both ends of the table */
        expect_read(w, q, xorshift32(&s) & 1);
    }
    /* The ends: the largest significand, zero, the table's first and last powers. */
    for (int q = -360; q <= 330; q++) {
        expect_read(9999999999999999999ULL, q, false);
        expect_read(1, q, false);
        expect_read(0, q, true);
    }
}

/* Every double's shortest digits, and the decimals just around it, read back as strtod
 * reads them: the rounding boundaries where a reader goes wrong. */
Test(number, read_round_trips_and_neighbours, .timeout = 60)
{
    uint32_t s = 0x9e3779b9u;
    for (int i = 0; i < 200000; i++) {
        double d;
        uint64_t bits = random_finite_bits(&s) & ~(1ULL << 63);
        memcpy(&d, &bits, sizeof d);
        char text[48];
        snprintf(text, sizeof text, "%.16e", d); /* 17 significant digits */
        char digits[32];
        size_t n = 0;
        for (const char *p = text; *p != 'e'; p++)
            if (*p != '.')
                digits[n++] = *p;
        digits[n] = '\0';
        uint64_t w = strtoull(digits, NULL, 10);
        int q = atoi(strchr(text, 'e') + 1) - 16;
        expect_read(w, q, false);
        expect_read(w + 1, q, false);
        expect_read(w - 1, q, false);
        expect_read(w * 100 + 50, q - 2, false); /* halfway between neighbours of 17 digits */
    }
}

/* Exact halfway cases, where ties go to even: 2^53 + 1, and odd multiples of half an ulp
 * in the range where a decimal of 19 digits holds them exactly. */
Test(number, read_ties_to_even, .timeout = 10)
{
    expect_read(9007199254740993ULL, 0, false); /* 2^53 + 1: to 2^53 */
    expect_read(9007199254740995ULL, 0, false); /* 2^53 + 3: to 2^53 + 4 */
    for (uint64_t k = 0; k < 5000; k++) {
        uint64_t big = (1ULL << 53) + 2 * k + 1; /* halfway at scale 1 */
        expect_read(big, 0, false);
        expect_read(big * 5, -1, false); /* the same value written with one more digit */
        expect_read(big, 1, true);
    }
    expect_read(5, -324, false);                    /* half the smallest subnormal: 0 */
    expect_read(24703282292062328ULL, -340, false); /* just above half of it */
    expect_read(22250738585072014ULL, -324, false); /* the smallest normal */
    expect_read(17976931348623157ULL, 292, false);  /* the largest finite */
    expect_read(17976931348623159ULL, 292, false);  /* past it: an overflow */
}

/* ---- integers: nipc__js_integer against printf, at every length and its edges ------------ */

static void expect_integer(long long v)
{
    char want[32], got[32];
    snprintf(want, sizeof want, "%lld", v);
    memset(got, 'Z', sizeof got);
    size_t n = nipc__js_integer(got, v);
    cr_assert_eq(n, strlen(want), "%s: length %zu", want, n);
    cr_assert_eq(memcmp(got, want, n), 0, "%s: got %.*s", want, (int)n, got);
}

Test(number, integers_at_every_length_and_edge, .timeout = 10)
{
    /* 10^0 to 10^18, each with its neighbours and the nines below the next power; unsigned,
     * so that the step past 10^18 is defined (10^19 fits a uint64_t, not a long long). */
    unsigned long long p = 1;
    for (int k = 0; k <= 18; k++, p *= 10) {
        for (long long d = -2; d <= 2; d++) {
            long long v = (long long)p + d;
            expect_integer(v);
            expect_integer(-v);
        }
        if (k < 18)
            expect_integer((long long)(p * 10 - 1)); /* 10^19 - 1 is past INT64_MAX */
    }
    expect_integer(INT64_MAX);
    expect_integer(INT64_MIN);
    expect_integer(INT64_MAX - 1);
    expect_integer(INT64_MIN + 1);
    uint32_t s = 12345u;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = (uint64_t)xorshift32(&s) << 32 | xorshift32(&s);
        long long v = (long long)(r >> (1 + xorshift32(&s) % 63)); /* >= 0: -v is defined */
        expect_integer(xorshift32(&s) & 1 ? v : -v);
    }
}
