import{b3 as i}from"./index-BRMi-it7.js";const n=o=>["",...i].includes(o);export{n as i};
