package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.validation.InvalidInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The profiles directory as operators keep it: what counts as a profile, what is ignored and why, refusals. */
class ProfileCatalogTest {
    @TempDir
    Path dir;

    private ProfileCatalog catalog;

    @BeforeEach
    void catalog() throws IOException {
        profile("base", "d-i pkgsel/include string sudo\n", "#!/bin/bash\n\n# The base of all.\nset -e\n");
        profile("web", "", "#!/bin/bash\nset -e\n");
        catalog = new ProfileCatalog(dir);
    }

    private Path profile(String name, String preseed, String script) throws IOException {
        Path p = Files.createDirectories(dir.resolve(name));
        if (preseed != null) {
            Files.writeString(p.resolve("preseed.cfg"), preseed);
        }
        if (script != null) {
            Files.writeString(p.resolve("post-install.sh"), script);
        }
        return p;
    }

    @Test
    void aProfileIsANamedDirectoryWithBothFilesAndItsDescriptionIsTheScriptsFirstComment() {
        ProfileCatalog.Contents contents = catalog.read();
        assertEquals(List.of("base", "web"), contents.names());
        assertEquals("The base of all.", contents.profiles().get(0).description());
        assertEquals("", contents.profiles().get(1).description());
        assertEquals(List.of(Answer.of("pkgsel/include", "string", "sudo")), contents.profiles().get(0).answers());
    }

    @Test
    void aProfileAddedWhileRunningIsKnownAtOnce() throws IOException {
        assertThrows(InvalidInputException.class, () -> catalog.require("spec.profile", "db"));
        profile("db", "", "#!/bin/bash\n# Database.\n");
        assertEquals("Database.", catalog.require("spec.profile", "db").description());
    }

    @Test
    void entriesThatAreNotProfilesAreIgnoredEachWithItsReason() throws IOException {
        profile("UI", "", "#!/bin/bash\n");
        profile("bad_name", "", "#!/bin/bash\n");
        profile(".hidden", "", "#!/bin/bash\n");
        profile("no-script", "", null);
        profile("no-preseed", null, "#!/bin/bash\n");
        profile("owns-network", "d-i netcfg/get_hostname string evil\n", "#!/bin/bash\n");
        profile("continued", "d-i pkgsel/include string a \\\nd-i preseed/late_command string reboot\n", "#!/bin/bash\n");
        profile("bad-type", "d-i pkgsel/include strnig nginx\n", "#!/bin/bash\n");
        Files.writeString(dir.resolve("README"), "not a profile");

        ProfileCatalog.Contents contents = catalog.read();
        assertEquals(List.of("base", "web"), contents.names());
        assertEquals(List.of(".hidden", "README", "UI", "bad-type", "bad_name", "continued", "no-preseed", "no-script",
                "owns-network"), List.copyOf(contents.ignored().keySet()));
        assertTrue(contents.ignored().get("no-script").contains("no-script/post-install.sh"), contents.ignored().toString());
        assertTrue(contents.ignored().get("owns-network").startsWith("owns-network/preseed.cfg line 1: "),
                contents.ignored().get("owns-network"));
        assertTrue(contents.ignored().get("continued").contains("not continued with a backslash"),
                contents.ignored().get("continued"));
        assertTrue(contents.ignored().get("bad-type").contains("one of boolean, multiselect"),
                contents.ignored().get("bad-type"));
    }

    @Test
    void anUnknownProfileIsRefusedListingTheKnownOnes() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> catalog.require("spec.profile", "api"));
        assertEquals("spec.profile: \"api\" is not accepted; expected one of the controller's profiles: base, web",
                e.getMessage());
    }

    @Test
    void aProfileThatIsThereButBrokenIsRefusedSayingWhy() throws IOException {
        profile("db", "d-i partman-auto/disk string /dev/sdb\n", "#!/bin/bash\n");
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> catalog.require("spec.profile", "db"));
        assertTrue(e.getMessage().contains(dir.resolve("db") + " is not usable: db/preseed.cfg line 1: "), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"../x", "..", "/etc", "base/../web", "Base", "", "web\n"})
    void aNameThatIsNoProfileNameIsRefusedBeforeAnyPathIsBuiltFromIt(String name) throws IOException {
        Files.createDirectories(dir.resolveSibling("x"));
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> catalog.require("spec.profile", name));
        assertTrue(e.getMessage().contains("1-63 characters of a-z, 0-9 and '-'"), e.getMessage());
    }

    @Test
    void everyProfileBuildsOnBaseAndWithoutBaseNoneCanBeUsed() throws IOException {
        assertEquals(List.of("base", "web"), catalog.chain("spec.profile", "web").stream().map(Profile::name).toList());
        assertEquals(List.of("base"), catalog.chain("spec.profile", "base").stream().map(Profile::name).toList());

        Files.delete(dir.resolve("base").resolve("post-install.sh"));
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> catalog.chain("spec.profile", "web"));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("profile web builds on profile base, which is missing"),
                e.getStatus().getDescription());
    }

    @Test
    void aMissingDirectoryHoldsNoProfiles() {
        ProfileCatalog none = new ProfileCatalog(dir.resolve("nowhere"));
        assertEquals(List.of(), none.read().names());
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> none.require("spec.profile", "base"));
        assertTrue(e.getMessage().contains("(none in " + dir.resolve("nowhere") + ")"), e.getMessage());
    }

    @Test
    void aDescriptionIsOneLineOfPrintableText() {
        assertEquals("Colours [31m\u00e9t\u00e9 gone", ProfileCatalog.description("#!/bin/sh\n# Colours \u001b[31m\u00e9t\u00e9 gone\n"));
        assertEquals("", ProfileCatalog.description("#!/bin/sh\nset -e\n# too late\n"));
    }
}
